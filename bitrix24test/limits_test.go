package bitrix24test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLeakyBucket(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newSrv(t, WithClock(clk.Now), WithRateLimit(2, 5))
	for i := 0; i < 5; i++ {
		requireResult(t, callJSON(t, s, "server.time", nil))
	}
	r := callJSON(t, s, "server.time", nil)
	requireErr(t, r, 503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
	assert.Equal(t, `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`, string(r.raw))
	assert.Empty(t, r.header.Get("Retry-After"))
	assert.Equal(t, 1, s.QueryLimitRefusals())

	// Checked before everything else: method lookup and authentication too.
	requireErr(t, callJSONAs(t, s, "", "no.such", nil), 503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
	assert.Equal(t, 2, s.QueryLimitRefusals())

	// Refusals are not counted; the counter drains at 2/s.
	clk.Advance(time.Second)
	requireResult(t, callJSON(t, s, "server.time", nil))
	requireResult(t, callJSON(t, s, "server.time", nil))
	requireErr(t, callJSON(t, s, "server.time", nil), 503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
	clk.Advance(500 * time.Millisecond)
	requireResult(t, callJSON(t, s, "server.time", nil))
	assert.Equal(t, 3, s.QueryLimitRefusals())
	assert.Equal(t, 11, s.Requests(""), "refused requests are still counted as received")
}

func TestLeakyBucketDefaults(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := NewServer(WithClock(clk.Now))
	defer s.Close()
	// The burst edge: exactly DefaultBurst (50) pass, the 51st is refused.
	for i := 0; i < DefaultBurst; i++ {
		r := hookJSON(t, s, "server.time", nil)
		require.Equal(t, 200, r.status, "request %d", i)
	}
	requireErr(t, hookJSON(t, s, "server.time", nil), 503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
	clk.Advance(time.Second) // 2/s
	requireResult(t, hookJSON(t, s, "server.time", nil))
	requireResult(t, hookJSON(t, s, "server.time", nil))
	requireErr(t, hookJSON(t, s, "server.time", nil), 503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
}

func TestOperationTimeLimit(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newSrv(t, WithClock(clk.Now))
	s.SetMethodCost("User.Option.Set", 100*time.Second)
	var last resp
	for i := 1; i <= 5; i++ { // 0, 100, ..., 400 s used before each call: not above 480
		last = callJSON(t, s, "user.option.set", map[string]any{"k": i})
		requireResult(t, last)
		clk.Advance(time.Second)
	}
	tm := last.body["time"].(map[string]any)
	assert.InDelta(t, 500, tm["operating"], 0.5)
	assert.Equal(t, float64(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Unix()+600), tm["operating_reset_at"])

	r := callJSON(t, s, "user.option.set", map[string]any{"k": 6})
	requireErr(t, r, 429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
	assert.Equal(t, int64(5), toInt(s.UserOptions(s.OAuthConfig().ClientID, 1)["k"]), "the blocked call did not run")

	// Other methods, applications and webhooks are unaffected.
	r = callJSON(t, s, "user.option.get", nil)
	requireResult(t, r)
	assert.Equal(t, float64(0), r.body["time"].(map[string]any)["operating"])
	app2 := s.InstallApp("user")
	requireResult(t, callJSONAs(t, s, app2.Token.AccessToken, "user.option.set", map[string]any{"k": 1}))

	// Inside a batch each command is checked as its own method; the batch still answers 200.
	res := batchResult(t, callJSON(t, s, "batch", map[string]any{"cmd": map[string]any{"a": "user.option.set?k=7", "b": "server.time"}}))
	assert.Equal(t, map[string]any{"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked due to operation time limit."},
		res["result_error"].(map[string]any)["a"])
	assert.Contains(t, res["result"], "b")

	// The window rolls: ten minutes later the method works again.
	clk.Advance(10 * time.Minute)
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"k": 8}))
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int:
		return int64(x)
	case interface{ Int64() (int64, error) }:
		n, _ := x.Int64()
		return n
	}
	return -1
}

func TestOperationTimeLimitDetails(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newSrv(t, WithClock(clk.Now), WithOperationTimeLimit(time.Second))
	// Executions up to 0.1 s are not recorded.
	s.SetMethodCost("server.time", 50*time.Millisecond)
	for i := 0; i < 30; i++ {
		requireResult(t, hookJSON(t, s, "server.time", nil))
	}
	r := hookJSON(t, s, "server.time", nil)
	assert.Equal(t, float64(0), r.body["time"].(map[string]any)["operating"])

	// The outer batch is ignored by the limiter.
	s.SetMethodCost("batch", 2*time.Second)
	for i := 0; i < 3; i++ {
		batchResult(t, hookJSON(t, s, "batch", map[string]any{"cmd": map[string]any{"a": "scope"}}))
	}
	// Webhook calls are limited per webhook too.
	s.SetMethodCost("profile", 2*time.Second)
	requireResult(t, hookJSON(t, s, "profile", nil))
	requireErr(t, hookJSON(t, s, "profile", nil), 429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
	requireResult(t, callJSON(t, s, "profile", nil))

	// Disabled limiter: no "operating" at all.
	d := newSrv(t, WithOperationTimeLimit(0))
	r = callJSON(t, d, "server.time", nil)
	assert.NotContains(t, r.body["time"], "operating")
	r = send(t, d, http.MethodGet, d.URL+"/rest/server.time?auth="+d.Token().AccessToken, "", "", nil)
	requireResult(t, r)
}
