package bitrix24

// The coalescer's timing, under testing/synctest: the batch request is answered in
// memory (a loopback connection does not block durably inside a bubble), so the fake
// clock moves only when every goroutine waits on it. The wire is tested against
// bitrix24test in autobatch_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24/internal/envelope"
)

const testHold = 100 * time.Millisecond

// sentBatch is a batch request the fake sender received.
type sentBatch struct {
	at       time.Time
	cmds     map[string]string // key -> "method?query"
	deadline time.Time         // of the batch's context; zero when none
}

// fakeBatches answers batch bodies in memory: each command's result is its own command
// string, except methods in fail, which get an error entry.
type fakeBatches struct {
	mu    sync.Mutex
	sent  []sentBatch
	block bool // wait for the batch's ctx to end instead of answering
	fail  map[string]string
}

func (f *fakeBatches) send(ctx context.Context, body []byte) (answer, error) {
	var req struct {
		Halt int               `json:"halt"`
		Cmd  map[string]string `json:"cmd"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return answer{}, err
	}
	d, _ := ctx.Deadline()
	f.mu.Lock()
	f.sent = append(f.sent, sentBatch{at: time.Now(), cmds: req.Cmd, deadline: d})
	block := f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return answer{}, ctx.Err()
	}
	results, errs, times := map[string]any{}, map[string]any{}, map[string]any{}
	for k, cmd := range req.Cmd {
		method, _, _ := strings.Cut(cmd, "?")
		if code, ok := f.fail[method]; ok {
			errs[k] = map[string]string{"error": code, "error_description": "failed " + k}
			continue
		}
		results[k] = cmd
		times[k] = map[string]float64{"start": 1700000000.5, "operating_reset_at": 1700000600}
	}
	raw, _ := json.Marshal(map[string]any{"result": results, "result_error": errs,
		"result_total": map[string]int{}, "result_next": []int{}, "result_time": times})
	return answer{env: &envelope.Envelope{Result: raw}, status: 200}, nil
}

func (f *fakeBatches) batches() []sentBatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentBatch(nil), f.sent...)
}

// newHoldingClient is a webhook client whose automatic batches go to f. Nothing reaches
// the network.
func newHoldingClient(t *testing.T, f *fakeBatches) *Client {
	t.Helper()
	c, err := NewWebhookClient("https://portal.example/rest/1/secretcode123/", WithAutoBatch(testHold), WithRetry(0, 0, 0))
	require.NoError(t, err)
	c.batcher.send = func(ctx context.Context, body []byte, _ *callState) (answer, error) { return f.send(ctx, body) }
	return c
}

// commands returns the sorted command strings of a batch.
func (s sentBatch) commands() []string {
	var out []string
	for _, c := range s.cmds {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func TestAutoBatchHoldsTheFirstCallExactlyMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeBatches{}
		c := newHoldingClient(t, f)
		start := time.Now()
		results := make([]string, 2)
		var wg sync.WaitGroup
		call := func(i int) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				assert.NoError(t, c.Call(context.Background(), "server.time", nil, &results[i]))
			}()
		}
		call(0)
		synctest.Wait()
		require.Empty(t, f.batches(), "held")
		time.Sleep(testHold / 2)
		call(1)
		time.Sleep(testHold/2 - time.Nanosecond)
		synctest.Wait()
		require.Empty(t, f.batches(), "still held a nanosecond before maxWait")
		time.Sleep(time.Nanosecond)
		wg.Wait()
		sent := f.batches()
		require.Len(t, sent, 1)
		assert.Equal(t, start.Add(testHold), sent[0].at, "sent when the first call had waited maxWait")
		assert.Len(t, sent[0].cmds, 2, "the later call joined the same batch")
		assert.Equal(t, []string{"server.time", "server.time"}, results)
		assert.Equal(t, AutoBatchStats{Calls: 2, Batches: 1}, c.AutoBatchStats())
	})
}

func TestAutoBatchSendsAFullBatchAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeBatches{}
		c := newHoldingClient(t, f)
		start := time.Now()
		const n = 2*MaxBatchCommands + 20
		results := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				assert.NoError(t, c.Call(context.Background(), "user.option.get", map[string]string{"option": fmt.Sprint(i)}, &results[i]))
			}()
		}
		synctest.Wait()
		sent := f.batches()
		require.Len(t, sent, 2, "two full batches, no time passed")
		for _, b := range sent {
			assert.Len(t, b.cmds, MaxBatchCommands)
			assert.Equal(t, start, b.at)
		}
		wg.Wait() // the last 20 go out after maxWait
		sent = f.batches()
		require.Len(t, sent, 3)
		assert.Len(t, sent[2].cmds, 20)
		assert.Equal(t, start.Add(testHold), sent[2].at)
		for i, r := range results {
			assert.Equal(t, fmt.Sprintf("user.option.get?option=%d", i), r, "each caller gets its own result")
		}
		assert.Equal(t, AutoBatchStats{Calls: n, Batches: 3}, c.AutoBatchStats())
	})
}

func TestAutoBatchDropsTheCommandOfACallerWhoLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeBatches{}
		c := newHoldingClient(t, f)
		ctx, cancel := context.WithCancel(context.Background())
		errs := make([]error, 3)
		var wg sync.WaitGroup
		for i := range 3 {
			callCtx := context.Background()
			if i == 1 {
				callCtx = ctx
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.Call(callCtx, "user.option.get", map[string]string{"option": fmt.Sprint(i)}, nil)
			}()
		}
		synctest.Wait()
		cancel()
		synctest.Wait()
		assert.ErrorIs(t, errs[1], context.Canceled, "returns at once")
		assert.Empty(t, f.batches())
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[2])
		sent := f.batches()
		require.Len(t, sent, 1)
		assert.Equal(t, []string{"user.option.get?option=0", "user.option.get?option=2"}, sent[0].commands())
	})
}

func TestAutoBatchSendsNothingWhenItsOnlyCallerLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeBatches{}
		c := newHoldingClient(t, f)
		ctx, cancel := context.WithTimeout(context.Background(), testHold/2)
		defer cancel()
		err := c.Call(ctx, "server.time", nil, nil)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		time.Sleep(2 * testHold)
		synctest.Wait()
		assert.Empty(t, f.batches())
		assert.Zero(t, c.AutoBatchStats())
	})
}

func TestAutoBatchIsCancelledWhenEveryCallerLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeBatches{block: true}
		c := newHoldingClient(t, f)
		ctx, cancel := context.WithCancel(context.Background())
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- c.Call(ctx, "server.time", nil, nil) }()
		}
		time.Sleep(testHold)
		synctest.Wait()
		require.Len(t, f.batches(), 1, "in flight")
		cancel()
		for range 2 {
			assert.ErrorIs(t, <-errs, context.Canceled)
		}
		// synctest.Test returns only once the sender, blocked on the batch's own
		// context, has returned too: the batch was cancelled.
	})
}

func TestAutoBatchRunsUntilTheLatestDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeBatches{}
		c := newHoldingClient(t, f)
		start := time.Now()
		run := func(deadlines ...time.Duration) sentBatch {
			var wg sync.WaitGroup
			for _, d := range deadlines {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if d > 0 {
					ctx, cancel = context.WithDeadline(ctx, start.Add(d))
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer cancel()
					assert.NoError(t, c.Call(ctx, "server.time", nil, nil))
				}()
			}
			wg.Wait()
			sent := f.batches()
			return sent[len(sent)-1]
		}
		assert.Equal(t, start.Add(time.Hour), run(time.Minute, time.Hour, time.Second).deadline)
		assert.True(t, run(time.Hour, 0).deadline.IsZero(), "a caller without a deadline: none")
	})
}

func TestAutoBatchGivesEachCommandItsOwnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeBatches{fail: map[string]string{"crm.item.get": "ERROR_NOT_FOUND"}}
		c := newHoldingClient(t, f)
		var wg sync.WaitGroup
		var okErr, failErr error
		var resp Response
		wg.Add(2)
		go func() {
			defer wg.Done()
			okErr = c.Call(context.Background(), "server.time", nil, nil, WithResponse(&resp))
		}()
		go func() {
			defer wg.Done()
			failErr = c.Call(context.Background(), "crm.item.get", map[string]string{"id": "7"}, nil)
		}()
		wg.Wait()
		require.NoError(t, okErr)
		assert.Equal(t, time.Unix(1700000600, 0), resp.Time.OperatingResetAt, "the command's own time")
		assert.Equal(t, time.Unix(1700000600, 0), c.OperatingResetAt("server.time"))
		var apiErr *APIError
		require.ErrorAs(t, failErr, &apiErr)
		assert.ErrorIs(t, failErr, ErrNotFound)
		assert.Equal(t, "crm.item.get", apiErr.Method)
		assert.NotContains(t, failErr.Error(), "secretcode123")
	})
}

func TestAutoBatchWholeFailureReachesEveryCallerInMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newHoldingClient(t, &fakeBatches{})
		boom := errors.New("boom")
		c.batcher.send = func(context.Context, []byte, *callState) (answer, error) { return answer{}, boom }
		errs := make(chan error, 3)
		for range 3 {
			go func() { errs <- c.Call(context.Background(), "server.time", nil, nil) }()
		}
		for range 3 {
			err := <-errs
			assert.ErrorIs(t, err, boom)
			assert.Contains(t, err.Error(), "server.time")
		}
	})
}

func TestAutoBatchAnswerWithoutTheCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newHoldingClient(t, &fakeBatches{})
		for _, result := range []string{`{"result":[],"result_error":[]}`, `"not a batch"`, `{"result":{"c01":1},"result_error":{"c02":"x"}}`} {
			c.batcher.send = func(context.Context, []byte, *callState) (answer, error) {
				return answer{env: &envelope.Envelope{Result: json.RawMessage(result)}, status: 200}, nil
			}
			err := c.Call(context.Background(), "server.time", nil, nil)
			assert.ErrorIs(t, err, ErrUnexpectedResponse, result)
		}
		c.batcher.send = func(context.Context, []byte, *callState) (answer, error) {
			return answer{env: &envelope.Envelope{Result: json.RawMessage(`{"result":[],"result_error":{"c00":"x"}}`)}, status: 200}, nil
		}
		var apiErr *APIError
		require.ErrorAs(t, c.Call(context.Background(), "server.time", nil, nil), &apiErr)
		assert.Equal(t, "malformed error entry", apiErr.Description)
	})
}

func TestBatchCommand(t *testing.T) {
	t.Parallel()
	yes := map[string]string{
		`{}`:                                   "m.get",
		`{"option":"x"}`:                       "m.get?option=x",
		`{"options":{"a":"1","b":["x","y"]}}`:  "m.get?options%5Ba%5D=1&options%5Bb%5D%5B0%5D=x&options%5Bb%5D%5B1%5D=y",
		`{"a":{"b":{"c":"deep"}}}`:             "m.get?a%5Bb%5D%5Bc%5D=deep",
		`{"s":"$5 and 100%, a&b=c ü"}`:         "m.get?s=%245+and+100%25%2C+a%26b%3Dc+%C3%BC",
		`{"options":{"0":"zero","1":"one"}}`:   "m.get?options%5B0%5D=zero&options%5B1%5D=one",
		`{"s":""}`:                             "m.get?s=",
		`{"filter":{">ID":"5","%NAME":"a b"}}`: "m.get?filter%5B%25NAME%5D=a+b&filter%5B%3EID%5D=5",
		`{"start":"50","order":{"ID":"DESC"}}`: "m.get?order%5BID%5D=DESC&start=50",
		`{"options":{"k.with.dots":"v"}}`:      "m.get?options%5Bk.with.dots%5D=v",
		`{"options":{"nul":"a\u0000b"}}`:       "m.get?options%5Bnul%5D=a%00b",
		`{"x":"price $5"}`:                     "m.get?x=price+%245",
	}
	for body, want := range yes {
		got, ok := batchCommand("m.get", []byte(body))
		assert.True(t, ok, body)
		assert.Equal(t, want, got, body)
	}
	no := []string{
		`{"n":1}`, `{"b":true}`, `{"z":null}`, `{"l":[]}`, `{"m":{}}`, `{"l":["a",1]}`, `{"m":{"a":{}}}`,
		`{"r":"$result[a]"}`, `{"r":"x $NEXT[a]"}`, `{"$time[a]":"x"}`, `{"o":{"$error[k]":"x"}}`,
		`{"auth":"t"}`, `{"AUTH":"t"}`, `{"access_token":"t"}`, `{"a.b":"x"}`, `{" a":"x"}`, `{"a b":"x"}`,
		`{"a[b]":"x"}`, `{"o":{"a]":"x"}}`, `{"o":{" ":"x"}}`, `{"o":{"":"x"}}`, `{"nul\u0000":"x"}`,
		`not json`, `[]`,
	}
	for _, body := range no {
		_, ok := batchCommand("m.get", []byte(body))
		assert.False(t, ok, body)
	}
	_, ok := batchCommand("user.option.set", []byte(`{"options":"scalar"}`))
	assert.False(t, ok, "a scalar options fails the whole batch")
	_, ok = batchCommand("user.option.set", []byte(`{"flat":"x"}`))
	assert.True(t, ok, "flat options are fine")
}

func TestBatchableMethod(t *testing.T) {
	t.Parallel()
	for _, m := range []string{"batch", "BATCH", "Batch", "download", "upload", "Upload"} {
		assert.False(t, batchableMethod(m), m)
	}
	for _, m := range []string{"user.option.get", "crm.deal.list", "batchy", "disk.file.upload"} {
		assert.True(t, batchableMethod(m), m)
	}
}
