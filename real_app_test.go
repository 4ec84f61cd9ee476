package bitrix24_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// phpForm renders a JSON object the way the portal POSTs it: PHP bracket keys
// (auth[access_token]=...), form-encoded. The docs print events as JSON.
func phpForm(prefix string, v any, out url.Values) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := k
			if prefix != "" {
				name = prefix + "[" + k + "]"
			}
			phpForm(name, v[k], out)
		}
	case []any:
		for i, e := range v {
			phpForm(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	case nil:
		out.Add(prefix, "")
	default:
		out.Add(prefix, fmt.Sprint(v))
	}
}

func formPost(target, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// replayEvent: ParseEvent reads the recorded POST; every field matches the form.
func replayEvent(t *testing.T, f realFile) {
	body := string(f.raw)
	if len(f.answers) == 1 { // the docs' JSON rendering
		var m map[string]any
		require.NoError(t, json.Unmarshal(f.answers[0], &m))
		form := url.Values{}
		phpForm("", m, form)
		body = form.Encode()
	}
	form, err := url.ParseQuery(body)
	require.NoError(t, err)
	ev, err := bitrix24.ParseEvent(formPost("https://app.example.test/event", body))
	require.NoError(t, err)
	assert.Equal(t, form.Get("event"), ev.Name)
	if id := form.Get("event_handler_id"); id != "" {
		assert.Equal(t, id, strconv.Itoa(ev.HandlerID))
	}
	ts, _ := strconv.ParseInt(form.Get("ts"), 10, 64)
	assert.Equal(t, ts, ev.Timestamp.Unix())
	a := ev.Auth
	assert.Equal(t, form.Get("auth[access_token]"), a.Token.AccessToken)
	assert.Equal(t, form.Get("auth[refresh_token]"), a.Token.RefreshToken)
	assert.Equal(t, form.Get("auth[member_id]"), a.Token.MemberID)
	assert.Equal(t, form.Get("auth[scope]"), a.Token.Scope)
	assert.Equal(t, form.Get("auth[client_endpoint]"), a.Token.ClientEndpoint)
	assert.Equal(t, form.Get("auth[server_endpoint]"), a.Token.ServerEndpoint)
	assert.Equal(t, form.Get("auth[domain]"), a.Domain)
	assert.Equal(t, form.Get("auth[status]"), a.Status)
	assert.Equal(t, form.Get("auth[application_token]"), a.ApplicationToken)
	if uid := form.Get("auth[user_id]"); uid != "" {
		assert.Equal(t, uid, strconv.Itoa(a.Token.UserID))
	}
	if exp := form.Get("auth[expires_in]"); exp != "" && a.Token.AccessToken != "" {
		assert.False(t, a.Token.Expiry.IsZero(), "expiry from expires/expires_in")
	}
	for key, vals := range form {
		rest, ok := strings.CutPrefix(key, "data[")
		if !ok {
			continue
		}
		var node any = ev.Data
		for _, part := range strings.Split(strings.TrimSuffix(rest, "]"), "][") {
			switch n := node.(type) {
			case map[string]any:
				node = n[part]
			case []any:
				i, _ := strconv.Atoi(part)
				require.Less(t, i, len(n), key)
				node = n[i]
			}
		}
		assert.Equal(t, vals[0], node, key)
	}
	if a.Token.AccessToken != "" {
		assert.NotContains(t, fmt.Sprint(ev), a.Token.AccessToken)
	}
	if a.ApplicationToken != "" {
		assert.NotContains(t, fmt.Sprint(ev), a.ApplicationToken)
	}
}

// replayPlacement: ParseAppRequest reads the recorded POST and query string.
func replayPlacement(t *testing.T, f realFile) {
	if strings.HasSuffix(f.name, ".query") {
		return // replayed with its .form
	}
	query, err := os.ReadFile(filepath.Join(realDir, strings.TrimSuffix(f.name, ".form")+".query"))
	require.NoError(t, err)
	u, err := url.Parse(string(query))
	require.NoError(t, err)
	form, err := url.ParseQuery(string(f.raw))
	require.NoError(t, err)
	before := time.Now()
	req, err := bitrix24.ParseAppRequest(formPost("https://app.example.test"+string(query), string(f.raw)))
	require.NoError(t, err)
	q := u.Query()
	assert.Equal(t, q.Get("DOMAIN"), req.Domain)
	assert.Equal(t, q.Get("PROTOCOL"), req.Protocol)
	assert.Equal(t, q.Get("LANG"), req.Lang)
	assert.Equal(t, q.Get("APP_SID"), req.AppSID)
	assert.Equal(t, "https://"+q.Get("DOMAIN")+"/rest/", req.Token.ClientEndpoint)
	assert.Equal(t, form.Get("AUTH_ID"), req.Token.AccessToken)
	assert.Equal(t, form.Get("REFRESH_ID"), req.Token.RefreshToken)
	assert.Equal(t, form.Get("member_id"), req.Token.MemberID)
	assert.Equal(t, form.Get("status"), req.Status)
	assert.Equal(t, form.Get("PLACEMENT"), req.Placement)
	sec, _ := strconv.Atoi(form.Get("AUTH_EXPIRES"))
	assert.WithinDuration(t, before.Add(time.Duration(sec)*time.Second), req.Token.Expiry, time.Minute)
	jsonEqual(t, json.RawMessage(form.Get("PLACEMENT_OPTIONS")), req.PlacementOptions, "PLACEMENT_OPTIONS")
	assert.NotContains(t, fmt.Sprint(req), req.Token.AccessToken)
}
