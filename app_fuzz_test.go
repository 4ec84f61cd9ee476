package bitrix24_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/b24go/bitrix24"
)

// FuzzParseRequests: whatever a client posts, parsing fails with an error or succeeds,
// never panics; a USERFIELD_TYPE request's options decode or fail the same way.
func FuzzParseRequests(f *testing.F) {
	f.Add("DOMAIN=a.test", contactAddBody)
	f.Add("DOMAIN=a.test&PROTOCOL=1", "member_id=m&PLACEMENT=USERFIELD_TYPE&PLACEMENT_OPTIONS=%7B%22MODE%22%3A%22view%22%2C%22VALUE%22%3A%5Bnull%5D%7D")
	f.Add("", "event=X&auth[member_id]=m&data[0][1]=a&data[0][]=b")
	f.Add("DOMAIN=a.test", "member_id=m&PLACEMENT=USERFIELD_TYPE&PLACEMENT_OPTIONS=%7B%22MODE%22%3A%22edit%22%2C%22ENTITY_VALUE_ID%22%3A%22%22%7D")
	f.Fuzz(func(t *testing.T, query, body string) {
		req, err := http.NewRequest(http.MethodPost, "https://app.example.test/", strings.NewReader(body))
		if err != nil {
			return
		}
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r, err := bitrix24.ParseAppRequest(req); err == nil {
			_, _ = r.UserField()
			_ = r.String()
		}
		req, _ = http.NewRequest(http.MethodPost, "https://app.example.test/", strings.NewReader(body))
		if ev, err := bitrix24.ParseEvent(req); err == nil && ev.Data == nil && ev.Name == "" {
			t.Fatal("an event without a name parsed")
		}
	})
}
