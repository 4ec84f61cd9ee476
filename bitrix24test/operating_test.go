package bitrix24test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func opTime(t *testing.T, r resp) map[string]any {
	t.Helper()
	tm, ok := r.body["time"].(map[string]any)
	require.True(t, ok, "%s", r.raw)
	return tm
}

// The window rolls bucket by bucket: at operating_reset_at only the oldest minute
// expires, and operating_reset_at moves to the first call of the next bucket + 600 s.
func TestOperatingWindowRollsByMinute(t *testing.T) {
	t.Parallel()
	clk := newFakeClock() // 12:00:00, a bucket boundary
	s := newSrv(t, WithClock(clk.Now))
	s.SetMethodCost("user.option.set", 100*time.Second)
	t0 := clk.Now()
	clk.Advance(5 * time.Second)
	for range 2 { // bucket 0: 200 s, its first call at t0+5
		requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"k": "v"}))
	}
	clk.Advance(70 * time.Second) // t0+75, bucket 1: 300 s
	var last resp
	for range 3 {
		last = callJSON(t, s, "user.option.set", map[string]any{"k": "v"})
		requireResult(t, last)
	}
	tm := opTime(t, last)
	assert.InDelta(t, 500, tm["operating"], 0.5, "the crossing call completed")
	assert.Equal(t, float64(t0.Unix()+5+600), tm["operating_reset_at"], "first call of the oldest bucket + 600 s")
	requireErr(t, callJSON(t, s, "user.option.set", map[string]any{"k": "v"}), 429, "OPERATION_TIME_LIMIT",
		"Method is blocked due to operation time limit.")
	assert.Equal(t, 1, s.OperationTimeLimitRefusals())

	clk.Advance(530 * time.Second) // t0+605: the first bucket has expired
	r := callJSON(t, s, "user.option.get", nil)
	requireResult(t, r)
	last = callJSON(t, s, "user.option.set", map[string]any{"k": "v"})
	requireResult(t, last)
	tm = opTime(t, last)
	assert.InDelta(t, 400, tm["operating"], 0.5, "300 s of the second bucket and this call")
	assert.Equal(t, float64(t0.Unix()+75+600), tm["operating_reset_at"])
}

// A set cost is server time: the answer's processing and duration show it, in time and
// in result_time; every command is checked and counted under its own method.
func TestOperatingCostInTimeAndResultTime(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newSrv(t, WithClock(clk.Now), WithOperationTimeLimit(10*time.Second))
	s.SetMethodCost("USER.OPTION.GET", 4*time.Second)
	tm := opTime(t, callJSON(t, s, "user.option.get", nil))
	assert.InDelta(t, 4, tm["processing"], 0.5)
	assert.InDelta(t, 4, tm["duration"], 0.5)
	assert.InDelta(t, 4, tm["operating"], 0.5)
	assert.Equal(t, float64(clk.Now().Unix()+600), tm["operating_reset_at"])

	res := batchResult(t, callJSON(t, s, "batch", map[string]any{"cmd": map[string]any{
		"a": "user.option.get", "b": "server.time", "c": "user.option.get", "d": "user.option.get",
	}}))
	times := res["result_time"].(map[string]any)
	assert.InDelta(t, 8, times["a"].(map[string]any)["operating"], 0.5)
	assert.InDelta(t, 4, times["a"].(map[string]any)["processing"], 0.5)
	assert.Equal(t, float64(0), times["b"].(map[string]any)["operating"], "another method's own figure")
	assert.InDelta(t, 12, times["c"].(map[string]any)["operating"], 0.5, "8 s ≤ 10 s before it: it ran")
	assert.Equal(t, "OPERATION_TIME_LIMIT", res["result_error"].(map[string]any)["d"].(map[string]any)["error"])
	assert.Equal(t, 1, s.OperationTimeLimitRefusals())
	assert.Equal(t, 3, s.Calls("user.option.get"))
}

// A call that records nothing still reports operating_reset_at: LoadLimiter::
// getResetTime falls back to the request's first call + 600 s. The real server.time of
// testdata/real/oi_server_time.json (operating 0, reset = start + 600) and the docs'
// example show it; so do the outer time of a batch and each result_time entry.
func TestOperatingResetAtOnCheapCalls(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newSrv(t, WithClock(clk.Now))
	want := float64(clk.Now().Unix() + 600)
	tm := opTime(t, callJSON(t, s, "server.time", nil))
	assert.Equal(t, float64(0), tm["operating"])
	assert.Equal(t, want, tm["operating_reset_at"])

	r := callJSON(t, s, "batch", map[string]any{"cmd": map[string]any{"a": "server.time", "b": "user.option.get"}})
	assert.Equal(t, want, opTime(t, r)["operating_reset_at"], "the outer batch's time")
	times := batchResult(t, r)["result_time"].(map[string]any)
	for _, k := range []string{"a", "b"} {
		assert.Equal(t, want, times[k].(map[string]any)["operating_reset_at"], "result_time[%s]", k)
		assert.Equal(t, float64(0), times[k].(map[string]any)["operating"], "result_time[%s]", k)
	}
}

// LoadLimiter::finalize records a method's executions of one request together, when
// their sum is over 0.1 s: five commands of 0.06 s in a batch count 0.3 s from the next
// request on (within the batch, getRestTime counts only executions over 0.1 s each); a
// single one, alone or in a batch, counts nothing.
func TestOperatingBatchSumsShortExecutions(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newSrv(t, WithClock(clk.Now))
	s.SetMethodCost("server.time", 60*time.Millisecond)
	one := batchResult(t, callJSON(t, s, "batch", map[string]any{"cmd": map[string]any{"a": "server.time"}}))
	assert.Equal(t, float64(0), one["result_time"].(map[string]any)["a"].(map[string]any)["operating"])
	assert.Equal(t, float64(0), opTime(t, callJSON(t, s, "server.time", nil))["operating"], "0.06 s alone is not recorded")

	cmd := map[string]any{}
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		cmd[k] = "server.time"
	}
	res := batchResult(t, callJSON(t, s, "batch", map[string]any{"cmd": cmd}))
	for k, tm := range res["result_time"].(map[string]any) {
		assert.Equal(t, float64(0), tm.(map[string]any)["operating"], "within the batch: %s", k)
	}
	assert.InDelta(t, 0.3, opTime(t, callJSON(t, s, "server.time", nil))["operating"], 0.05, "the batch's 5 x 0.06 s")
}
