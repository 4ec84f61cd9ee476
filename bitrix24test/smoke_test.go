package bitrix24test

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	s := newSrv(t)
	r := callJSON(t, s, "user.option.set", map[string]any{"options": map[string]any{"a": "it's <b>&\"/"}})
	t.Logf("%d %s", r.status, r.raw)
	r = callJSON(t, s, "user.option.get", nil)
	t.Logf("%d %s", r.status, r.raw)
	r = callJSON(t, s, "userfieldtype.list", nil)
	t.Logf("%d %s", r.status, r.raw)
	r = hookJSON(t, s, "user.option.get", nil)
	t.Logf("%d %s %v", r.status, r.raw, r.header)
}
