package bitrix24test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUserOptionSetRows covers the rows of reference §5.1.
func TestUserOptionSetRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string // JSON body without auth; "" sends no params
		form   string // form body instead
		status int
		code   string
		desc   string
		want   map[string]any // stored afterwards
	}{
		{name: "options map", body: `{"options":{"a":"1"}}`, status: 200, want: map[string]any{"a": "1"}},
		{name: "flat params", body: `{"a":"1","b":2}`, status: 200, want: map[string]any{"a": "1", "b": jsonNum("2")}},
		{name: "no params", body: `{}`, status: 400, code: "ERROR_ARGUMENT", desc: "Argument 'options' is null or empty"},
		{name: "empty options object", body: `{"options":{}}`, status: 400, code: "ERROR_ARGUMENT", desc: "Argument 'options' is null or empty"},
		{name: "empty options list", body: `{"options":[]}`, status: 400, code: "ERROR_ARGUMENT", desc: "Argument 'options' is null or empty"},
		{name: "options null takes the flat path", body: `{"options":null}`, status: 200, want: map[string]any{"options": nil}},
		{name: "OPTIONS upper case is a flat key", body: `{"OPTIONS":{"x":1}}`, status: 200, want: map[string]any{"OPTIONS": map[string]any{"x": jsonNum("1")}}},
		{name: "options list", body: `{"options":["a","b"]}`, status: 200, want: map[string]any{"0": "a", "1": "b"}},
		{name: "JSON types kept", body: `{"options":{"n":null,"t":true,"f":1.5,"o":{"k":[1,"2"]}}}`, status: 200,
			want: map[string]any{"n": nil, "t": true, "f": jsonNum("1.5"), "o": map[string]any{"k": []any{jsonNum("1"), "2"}}}},
		{name: "form strings", form: "options[a]=1&options[b][]=x", status: 200, want: map[string]any{"a": "1", "b": map[string]any{"0": "x"}}},
		{name: "form flat", form: "a=1", status: 200, want: map[string]any{"a": "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSrv(t)
			var r resp
			if tc.form != "" {
				r = callForm(t, s, "user.option.set", tc.form)
			} else {
				body := strings.Replace(tc.body, "{", `{"auth":"`+s.Token().AccessToken+`",`, 1)
				body = strings.Replace(body, `",}`, `"}`, 1)
				r = send(t, s, http.MethodPost, s.URL+"/rest/user.option.set", "application/json", body, nil)
			}
			if tc.code != "" {
				requireErr(t, r, tc.status, tc.code, tc.desc)
				assert.Equal(t, "options", r.body["argument"])
				assert.Empty(t, s.UserOptions(s.OAuthConfig().ClientID, 1))
				return
			}
			assert.Equal(t, true, requireResult(t, r))
			assert.Equal(t, tc.want, s.UserOptions(s.OAuthConfig().ClientID, 1))
		})
	}
}

func TestUserOptionScalarOptionsIsFatal(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	r := callJSON(t, s, "user.option.set", map[string]any{"options": "abc"})
	assert.Equal(t, 500, r.status)
	assert.Nil(t, r.body, "not JSON")
	assert.Contains(t, r.header.Get("Content-Type"), "text/html")
	r = callForm(t, s, "user.option.set", "options=abc")
	assert.Equal(t, 500, r.status)
}

func TestUserOptionUpsertAndGet(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"options": map[string]any{"a": "1", "b": "2", "Case": "x", "z": false}}))
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"options": map[string]any{"b": "3", "c": nil}}))

	all := requireResult(t, callJSON(t, s, "user.option.get", nil))
	assert.Equal(t, map[string]any{"a": "1", "b": "3", "Case": "x", "z": false, "c": nil}, all)

	tests := []struct {
		option any
		want   any
	}{
		{"a", "1"},
		{"b", "3"},
		{"case", nil}, // keys are case-sensitive
		{"Case", "x"},
		{"missing", nil},
		{"c", nil},
		{"z", false},
	}
	for _, tc := range tests {
		r := callJSON(t, s, "user.option.get", map[string]any{"option": tc.option})
		assert.Equal(t, tc.want, requireResult(t, r), "option %v", tc.option)
		assert.Contains(t, r.body, "result", "result present even when null")
	}
	// A map with keys 0..n-1 reads back as a list.
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"l": map[string]any{"1": "b", "0": "a"}}))
	assert.Equal(t, []any{"a", "b"}, requireResult(t, callJSON(t, s, "user.option.get", map[string]any{"option": "l"})))
	// option as an array is a PHP TypeError.
	r := callJSON(t, s, "user.option.get", map[string]any{"option": []string{"a"}})
	assert.Equal(t, 500, r.status)
}

func TestUserOptionScopedByUserAndApp(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	s.AddUser(2, false)
	u2 := s.OAuthConfigForUser(2)
	app2 := s.InstallApp("user")
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"k": "user1"}))
	requireResult(t, callJSONAs(t, s, u2.Token.AccessToken, "user.option.set", map[string]any{"k": "user2"}))
	requireResult(t, callJSONAs(t, s, app2.Token.AccessToken, "user.option.set", map[string]any{"k": "app2"}))
	get := func(tok string) any {
		return requireResult(t, callJSONAs(t, s, tok, "user.option.get", map[string]any{"option": "k"}))
	}
	assert.Equal(t, "user1", get(s.Token().AccessToken))
	assert.Equal(t, "user2", get(u2.Token.AccessToken))
	assert.Equal(t, "app2", get(app2.Token.AccessToken))
	assert.Equal(t, map[string]any{"k": "app2"}, s.UserOptions(app2.ClientID, 1))
}

func TestOptionMethodsViaWebhook(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	for _, m := range []string{"user.option.set", "user.option.get", "app.option.set", "app.option.get"} {
		// Even with no params: the context check comes first.
		r := hookJSON(t, s, m, map[string]any{})
		requireErr(t, r, 403, "ACCESS_DENIED", "Access denied! Application context required")
	}
}

func TestAppOptions(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	s.AddUser(3, false)
	nonAdmin := s.OAuthConfigForUser(3).Token.AccessToken

	// Argument check precedes the admin check.
	r := callJSONAs(t, s, nonAdmin, "app.option.set", map[string]any{})
	requireErr(t, r, 400, "ERROR_ARGUMENT", "Argument 'options' is null or empty")
	assert.Equal(t, "options", r.body["argument"])
	r = callJSONAs(t, s, nonAdmin, "app.option.set", map[string]any{"options": map[string]any{"a": 1}})
	requireErr(t, r, 403, "ACCESS_DENIED", "Access denied! Administrator authorization required")

	requireResult(t, callJSON(t, s, "app.option.set", map[string]any{"options": map[string]any{"a": "1", "b": "2"}}))
	requireResult(t, callJSON(t, s, "app.option.set", map[string]any{"b": "3"}))
	// Any user of the app reads the shared options.
	assert.Equal(t, map[string]any{"a": "1", "b": "3"}, requireResult(t, callJSONAs(t, s, nonAdmin, "app.option.get", nil)))
	assert.Equal(t, "3", requireResult(t, callJSONAs(t, s, nonAdmin, "app.option.get", map[string]any{"option": "b"})))
	assert.Nil(t, requireResult(t, callJSON(t, s, "app.option.get", map[string]any{"option": "x"})))
	assert.Equal(t, map[string]any{"a": "1", "b": "3"}, s.AppOptions(s.OAuthConfig().ClientID))
	// Not shared with another application.
	app2 := s.InstallApp("user")
	r = callJSONAs(t, s, app2.Token.AccessToken, "app.option.get", nil)
	assert.Contains(t, string(r.raw), `"result":[]`)
}

func TestConcurrentOptions(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	c := s.Client()
	tok := s.Token().AccessToken
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := fmt.Sprintf(`{"auth":%q,"options":{"k%d":%d}}`, tok, i, i)
			res, err := c.Post(s.URL+"/rest/user.option.set", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			_ = res.Body.Close()
			if res.StatusCode != 200 {
				errs <- fmt.Errorf("set %d: status %d", i, res.StatusCode)
			}
			res, err = c.Post(s.URL+"/rest/user.option.get", "application/json",
				strings.NewReader(fmt.Sprintf(`{"auth":%q,"option":"k%d"}`, tok, i)))
			if err != nil {
				errs <- err
				return
			}
			_ = res.Body.Close()
			_ = s.Requests("")
			_, _ = s.LastRequest("user.option.get")
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Len(t, s.UserOptions(s.OAuthConfig().ClientID, 1), 100)
	assert.Equal(t, 100, s.Requests("user.option.set"))
	assert.Equal(t, 200, s.Requests(""))
	c.CloseIdleConnections()
}
