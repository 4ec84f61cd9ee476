package bitrix24test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFaultError(t *testing.T) {
	t.Parallel()
	s := newSrv(t, WithRateLimit(1, 1))
	s.InjectFault("User.Option.Set.json", 2, FaultError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"))
	for i := 0; i < 2; i++ {
		r := callJSON(t, s, "user.option.set", map[string]any{"a": "1"})
		requireErr(t, r, 503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
	}
	// Faults do not run the method and do not touch the bucket.
	assert.Equal(t, 0, s.Calls("user.option.set"))
	assert.Equal(t, 0, s.QueryLimitRefusals())
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"a": "1"}))
	assert.Equal(t, 3, s.Requests("user.option.set"))
	assert.Equal(t, 1, s.Calls("user.option.set"))

	s.InjectFault("server.time", 1, FaultError(400, "ERROR_X", "it's <x>"))
	r := callJSON(t, s, "server.time", nil)
	assert.Equal(t, `{"error":"ERROR_X","error_description":"it\u0027s \u003Cx\u003E"}`, string(r.raw))
}

func TestFaultHTML(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	s.InjectFault("*", 1, FaultHTML(502))
	r := callJSON(t, s, "server.time", nil)
	assert.Equal(t, 502, r.status)
	assert.Equal(t, "text/html", r.header.Get("Content-Type"))
	assert.Contains(t, string(r.raw), "<title>502 Bad Gateway</title>")
	assert.Contains(t, string(r.raw), "nginx")
	requireResult(t, callJSON(t, s, "server.time", nil))
}

func TestFaultTruncatedJSON(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	s.InjectFault("server.time", 1, FaultTruncatedJSON())
	r := callJSON(t, s, "server.time", nil)
	assert.Equal(t, 200, r.status)
	assert.Len(t, r.raw, 20)
	assert.True(t, strings.HasPrefix(string(r.raw), `{"result":true`))
	assert.False(t, json.Valid(r.raw))
	// A custom body cut short.
	s.InjectFault("server.time", 1, Fault{Status: 500, Body: `{"error":"ERROR_CORE","error_description":"x"}`, TruncateAfter: 10})
	r = callJSON(t, s, "server.time", nil)
	assert.Equal(t, 500, r.status)
	assert.Equal(t, `{"error":"`, string(r.raw))
}

func TestFaultDelay(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	s.InjectFault("server.time", 1, FaultDelay(60*time.Millisecond))
	start := time.Now()
	requireResult(t, callJSON(t, s, "server.time", nil))
	assert.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond)
	assert.Equal(t, 1, s.Calls("server.time"), "a plain delay then runs the method")

	// Delay plus an answer.
	s.InjectFault("server.time", 1, Fault{Delay: 10 * time.Millisecond, Status: 504, Body: "gateway timeout", ContentType: "text/plain"})
	r := callJSON(t, s, "server.time", nil)
	assert.Equal(t, 504, r.status)
	assert.Equal(t, "gateway timeout", string(r.raw))

	// The delay ends when the client gives up.
	s.InjectFault("server.time", 1, FaultDelay(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/rest/server.time?auth="+s.Token().AccessToken, nil)
	require.NoError(t, err)
	c := s.Client()
	_, err = c.Do(req)
	require.Error(t, err)
	c.CloseIdleConnections()
}

func TestFaultDrop(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	s.InjectFault("server.time", 1, FaultDrop())
	c := s.Client()
	defer c.CloseIdleConnections()
	res, err := c.Post(s.URL+"/rest/server.time", "application/json", strings.NewReader(`{"auth":"`+s.Token().AccessToken+`"}`))
	if err == nil {
		_ = res.Body.Close()
	}
	require.Error(t, err)
	requireResult(t, callJSON(t, s, "server.time", nil))
}

func TestFaultTokenEndpoint(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	cfg := s.OAuthConfig()
	s.InjectFault("oauth/token", 1, FaultHTML(502))
	requireResult(t, callJSON(t, s, "server.time", nil)) // REST calls are not affected
	r := refresh(t, s, http.MethodPost, cfg.ClientID, cfg.ClientSecret, cfg.Token.RefreshToken)
	assert.Equal(t, 502, r.status)
	assert.Equal(t, 0, s.Refreshes())
	r = refresh(t, s, http.MethodPost, cfg.ClientID, cfg.ClientSecret, cfg.Token.RefreshToken)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, 1, s.Refreshes())
	assert.Equal(t, 2, s.Requests("oauth/token"))
}

func TestFaultOrderAndClear(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	s.InjectFault("server.time", 1, FaultHTML(502))
	s.InjectFault("*", 1, FaultHTML(503))
	assert.Equal(t, 502, callJSON(t, s, "server.time", nil).status)
	assert.Equal(t, 503, callJSON(t, s, "server.time", nil).status)
	s.InjectFault("*", 5, FaultHTML(500))
	s.InjectFault("server.time", 0, FaultHTML(500)) // n <= 0: nothing
	s.ClearFaults()
	requireResult(t, callJSON(t, s, "server.time", nil))
}

func TestInspection(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	_, ok := s.LastRequest("")
	assert.False(t, ok)
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"a": "x"}))
	requireResult(t, hookJSON(t, s, "Server.Time.json", map[string]any{"q": 1}))
	assert.Equal(t, 2, s.Requests(""))
	assert.Equal(t, 1, s.Requests("USER.OPTION.SET"))
	last, ok := s.LastRequest("user.option.set")
	require.True(t, ok)
	assert.Equal(t, "user.option.set", last.Method)
	assert.Equal(t, http.MethodPost, last.HTTPMethod)
	assert.Equal(t, "/rest/user.option.set", last.Path)
	assert.Equal(t, "oauth", last.AuthType)
	assert.Equal(t, map[string]any{"a": "x"}, last.Params)
	assert.Contains(t, string(last.Body), `"auth"`)
	assert.Equal(t, "application/json", last.Header.Get("Content-Type"))
	lastAny, ok := s.LastRequest("")
	require.True(t, ok)
	assert.Equal(t, "server.time", lastAny.Method)
	assert.Equal(t, "webhook", lastAny.AuthType)
	// Returned values are copies.
	last.Params["a"] = "changed"
	again, _ := s.LastRequest("user.option.set")
	assert.Equal(t, "x", again.Params["a"])
}

func TestCloseEndsFaultDelay(t *testing.T) {
	t.Parallel()
	s := NewServer(WithRateLimit(0, 1))
	s.InjectFault("*", 1, FaultDelay(time.Minute))
	c := s.Client()
	errc := make(chan error, 1)
	go func() {
		res, err := c.Get(s.URL + "/rest/server.time")
		if err == nil {
			_ = res.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return s.Requests("") == 1 }, 5*time.Second, 5*time.Millisecond)
	start := time.Now()
	s.Close()
	s.Close() // idempotent
	assert.Less(t, time.Since(start), 5*time.Second)
	<-errc
	c.CloseIdleConnections()
}
