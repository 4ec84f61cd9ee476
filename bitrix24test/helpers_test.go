package bitrix24test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newSrv starts a server without the leaky bucket (unless opts set one) and closes it
// at the end of the test.
func newSrv(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := NewServer(append([]Option{WithRateLimit(0, 1)}, opts...)...)
	t.Cleanup(s.Close)
	return s
}

// resp is a decoded answer.
type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // nil when the body is not a JSON object
}

func (r resp) errCode() string {
	c, _ := r.body["error"].(string)
	return c
}

func (r resp) errDesc() string {
	c, _ := r.body["error_description"].(string)
	return c
}

// send performs a request with s.Client() and decodes the answer.
func send(t *testing.T, s *Server, method, rawURL, contentType, body string, hdr http.Header) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	c := clientFor(s)
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	r := resp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

var clients sync.Map // *Server -> *http.Client

// clientFor shares one client per server; Server.Close closes its idle connections.
func clientFor(s *Server) *http.Client {
	if c, ok := clients.Load(s); ok {
		return c.(*http.Client)
	}
	c, _ := clients.LoadOrStore(s, s.Client())
	return c.(*http.Client)
}

// callJSON POSTs params as JSON to /rest/<method> with the app token of user 1 in auth.
func callJSON(t *testing.T, s *Server, method string, params map[string]any) resp {
	t.Helper()
	return callJSONAs(t, s, s.Token().AccessToken, method, params)
}

func callJSONAs(t *testing.T, s *Server, token, method string, params map[string]any) resp {
	t.Helper()
	p := map[string]any{}
	for k, v := range params {
		p[k] = v
	}
	if token != "" {
		p["auth"] = token
	}
	b, err := json.Marshal(p)
	require.NoError(t, err)
	return send(t, s, http.MethodPost, s.URL+"/rest/"+method, "application/json", string(b), nil)
}

// callForm POSTs a form body to /rest/<method> with the app token appended as auth.
func callForm(t *testing.T, s *Server, method, form string) resp {
	t.Helper()
	if form != "" {
		form += "&"
	}
	form += "auth=" + url.QueryEscape(s.Token().AccessToken)
	return send(t, s, http.MethodPost, s.URL+"/rest/"+method, "application/x-www-form-urlencoded", form, nil)
}

// hookJSON POSTs params as JSON to the default webhook.
func hookJSON(t *testing.T, s *Server, method string, params map[string]any) resp {
	t.Helper()
	b, err := json.Marshal(params)
	require.NoError(t, err)
	return send(t, s, http.MethodPost, s.WebhookURL()+method, "application/json", string(b), nil)
}

// requireErr asserts an error answer.
func requireErr(t *testing.T, r resp, status int, code, desc string) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.raw)
	require.Equal(t, code, r.errCode(), "body: %s", r.raw)
	require.Equal(t, desc, r.errDesc(), "body: %s", r.raw)
	require.NotContains(t, r.body, "time", "error answers carry no time")
}

// requireResult asserts a 200 envelope and returns its result.
func requireResult(t *testing.T, r resp) any {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.raw)
	require.NotContains(t, r.body, "error", "body: %s", r.raw)
	require.Contains(t, r.body, "result", "body: %s", r.raw)
	require.Contains(t, r.body, "time", "body: %s", r.raw)
	return r.body["result"]
}

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func jsonNum(s string) any { return json.Number(s) }
