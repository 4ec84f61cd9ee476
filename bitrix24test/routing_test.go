package bitrix24test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoutingForms(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	tok := s.Token().AccessToken
	bearer := http.Header{"Authorization": {"Bearer " + tok}}
	tests := []struct {
		name        string
		method      string
		url         string
		contentType string
		body        string
		header      http.Header
	}{
		{"plain", http.MethodPost, s.URL + "/rest/server.time", "application/json", `{"auth":"` + tok + `"}`, nil},
		{"json suffix", http.MethodPost, s.URL + "/rest/server.time.json", "application/json", `{"auth":"` + tok + `"}`, nil},
		{"upper-case name", http.MethodPost, s.URL + "/rest/SERVER.Time.JSON", "application/json", `{"auth":"` + tok + `"}`, nil},
		{"trailing slash", http.MethodPost, s.URL + "/rest/server.time/", "application/json", `{"auth":"` + tok + `"}`, nil},
		{"GET auth in query", http.MethodGet, s.URL + "/rest/server.time?auth=" + tok, "", "", nil},
		{"GET access_token in query", http.MethodGet, s.URL + "/rest/server.time?access_token=" + tok, "", "", nil},
		{"Bearer header", http.MethodPost, s.URL + "/rest/server.time", "application/json", `{}`, bearer},
		{"bearer lower-case", http.MethodGet, s.URL + "/rest/server.time", "", "", http.Header{"Authorization": {"bearer  " + tok}}},
		{"form body", http.MethodPost, s.URL + "/rest/server.time", "application/x-www-form-urlencoded", "auth=" + tok, nil},
		{"json with charset", http.MethodPost, s.URL + "/rest/server.time", "Application/JSON; charset=utf-8", `{"auth":"` + tok + `"}`, nil},
		{"+json type", http.MethodPost, s.URL + "/rest/server.time", "application/vnd.api+json", `{"auth":"` + tok + `"}`, nil},
		{"other type parsed as form", http.MethodPost, s.URL + "/rest/server.time", "text/plain", "auth=" + tok, nil},
		{"webhook", http.MethodPost, s.WebhookURL() + "server.time", "application/json", `{}`, nil},
		{"webhook json suffix and slash", http.MethodPost, s.WebhookURL() + "server.time.json/", "application/json", `{}`, nil},
		{"webhook upper-case", http.MethodGet, s.WebhookURL() + "Server.Time", "", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, s, tc.method, tc.url, tc.contentType, tc.body, tc.header)
			res := requireResult(t, r)
			assert.IsType(t, "", res)
			assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
		})
	}
}

func TestResponseHeaders(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	for _, r := range []resp{callJSON(t, s, "server.time", nil), callJSON(t, s, "no.such.method", nil)} {
		assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
		assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "origin, content-type, accept", r.header.Get("Access-Control-Allow-Headers"))
		assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
		assert.Empty(t, r.header.Get("Retry-After"))
	}
}

func TestParamsBodyFormats(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	tok := s.Token().AccessToken

	// Query string and form body are merged; body keys win.
	r := send(t, s, http.MethodPost, s.URL+"/rest/user.option.set?auth="+tok+"&q=query&both=query",
		"application/x-www-form-urlencoded", "both=body&options2[x][]=1&options2[x][]=2", nil)
	requireResult(t, r)
	assert.Equal(t, map[string]any{
		"q": "query", "both": "body",
		"options2": map[string]any{"x": map[string]any{"0": "1", "1": "2"}},
	}, s.UserOptions(s.OAuthConfig().ClientID, 1))

	// Bracket form body through the options key.
	r = callForm(t, s, "user.option.set", "options[data]=value&options[nested][a]=b")
	requireResult(t, r)
	got := callJSON(t, s, "user.option.get", map[string]any{"option": "nested"})
	assert.Equal(t, map[string]any{"a": "b"}, requireResult(t, got))

	// PHP turns '.' and ' ' in top-level names into '_' (form only, not JSON).
	requireResult(t, callForm(t, s, "user.option.set", "a.b=1&c+d=2"))
	opts := s.UserOptions(s.OAuthConfig().ClientID, 1)
	assert.Equal(t, "1", opts["a_b"])
	assert.Equal(t, "2", opts["c_d"])
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"e.f": 1}))
	assert.Contains(t, s.UserOptions(s.OAuthConfig().ClientID, 1), "e.f")

	// Multipart form data.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(t, mw.WriteField("auth", tok))
	require.NoError(t, mw.WriteField("options[mp]", "yes"))
	require.NoError(t, mw.Close())
	r = send(t, s, http.MethodPost, s.URL+"/rest/user.option.set", mw.FormDataContentType(), buf.String(), nil)
	requireResult(t, r)
	assert.Equal(t, "yes", s.UserOptions(s.OAuthConfig().ClientID, 1)["mp"])

	// GET works for every method; a GET body is not read.
	r = send(t, s, http.MethodGet, s.URL+"/rest/user.option.get?option=mp&auth="+tok, "", "", nil)
	assert.Equal(t, "yes", requireResult(t, r))

	// Invalid JSON is ignored silently: the auth inside is lost, so NO_AUTH_FOUND.
	r = send(t, s, http.MethodPost, s.URL+"/rest/server.time", "application/json", `{"auth":"`+tok+`"`, nil)
	requireErr(t, r, 401, "NO_AUTH_FOUND", "Wrong authorization data")
	// ... but the query string still counts.
	r = send(t, s, http.MethodPost, s.URL+"/rest/server.time?auth="+tok, "application/json", `{broken`, nil)
	requireResult(t, r)

	// state and start never become options.
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"state": "x", "start": 5, "only": true}))
	opts = s.UserOptions(s.OAuthConfig().ClientID, 1)
	assert.NotContains(t, opts, "state")
	assert.NotContains(t, opts, "start")
	assert.NotContains(t, opts, "auth")
	assert.Equal(t, true, opts["only"])
}

func TestPHPJSONEscapingOnTheWire(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{
		"k": `it's "q" <b> & a/b \ ü` + "\n\u2028",
	}))
	r := callJSON(t, s, "user.option.get", map[string]any{"option": "k"})
	assert.Contains(t, string(r.raw), `"result":"it\u0027s \u0022q\u0022 \u003Cb\u003E \u0026 a\/b \\ ü\n\u2028"`)
	assert.Equal(t, `it's "q" <b> & a/b \ ü`+"\n\u2028", requireResult(t, r))

	r = callJSON(t, s, "no.such", nil)
	assert.Equal(t, `{"error":"ERROR_METHOD_NOT_FOUND","error_description":"Method not found!"}`, string(r.raw))
	r = callJSON(t, s, "user.option.set", map[string]any{"options": map[string]any{}})
	assert.Equal(t, `{"error":"ERROR_ARGUMENT","error_description":"Argument \u0027options\u0027 is null or empty","argument":"options"}`, string(r.raw))
}

func TestPHPArrayEncoding(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	// Nothing stored: [] rather than {}.
	r := callJSON(t, s, "user.option.get", nil)
	assert.Contains(t, string(r.raw), `"result":[]`)
	r = callJSON(t, s, "app.option.get", nil)
	assert.Contains(t, string(r.raw), `"result":[]`)

	// Empty objects stored inside values come back as [].
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"empty": map[string]any{}, "list": map[string]any{"0": "a", "1": "b"}, "holes": map[string]any{"0": "a", "2": "b"}}))
	r = callJSON(t, s, "user.option.get", nil)
	assert.Contains(t, string(r.raw), `"empty":[]`)
	assert.Contains(t, string(r.raw), `"list":["a","b"]`)
	assert.Contains(t, string(r.raw), `"holes":{"0":"a","2":"b"}`)

	// Numbers are re-encoded like PHP: 1.0 -> 1, big integers become floats.
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"n": json1(), "f": 1.5}))
	r = callJSON(t, s, "user.option.get", map[string]any{"option": "n"})
	assert.Contains(t, string(r.raw), `"result":1,`)
}

func json1() any { return 1.0 }

func TestMethodNotFoundBeforeAuth(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	for _, u := range []string{
		s.URL + "/rest/no.such.method",
		s.URL + "/rest/no.such.method?auth=bogus",
		s.URL + "/rest/1/wrongcode/no.such.method",
		s.URL + "/rest/a/b",
		s.URL + "/rest/",
	} {
		r := send(t, s, http.MethodGet, u, "", "", nil)
		requireErr(t, r, 404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
	}
	// Outside /rest/ the fake is a plain 404.
	r := send(t, s, http.MethodGet, s.URL+"/other", "", "", nil)
	assert.Equal(t, 404, r.status)
}

func TestXMLTransport(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	r := send(t, s, http.MethodGet, s.URL+"/rest/server.time.xml?auth="+url.QueryEscape(s.Token().AccessToken), "", "", nil)
	requireErr(t, r, 500, "INTERNAL_WRONG_TRANSPORT", "Wrong transport!")
}

func TestSuccessEnvelopeTime(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newSrv(t, WithClock(clk.Now))
	r := callJSON(t, s, "server.time", nil)
	assert.Equal(t, "2025-03-01T12:00:00+00:00", requireResult(t, r))
	tm := r.body["time"].(map[string]any)
	for _, k := range []string{"start", "finish", "duration", "processing", "date_start", "date_finish", "operating"} {
		assert.Contains(t, tm, k)
	}
	// Nothing recorded yet: LoadLimiter::getResetTime falls back to this call's start +
	// 600 s, as the recorded server.time (testdata/real/oi_server_time.json) shows.
	assert.Equal(t, float64(clk.Now().Unix()+600), tm["operating_reset_at"])
	assert.InDelta(t, float64(clk.Now().Unix()), tm["start"], 0.001)
	assert.Equal(t, "2025-03-01T12:00:00+00:00", tm["date_start"])
	assert.True(t, strings.HasPrefix(string(r.raw), `{"result":`))
}
