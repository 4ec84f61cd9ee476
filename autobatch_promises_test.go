package bitrix24_test

// The promises of WithAutoBatch under concurrency (issue 21): a call from OnTokenRefresh
// is not held, a large answer fails batched only where it fails alone, a panic reaches
// the caller's goroutine, a query beyond max_input_vars is not coalesced, and nothing of
// the batcher outlives an idle client.

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// A call made with OnTokenRefresh's ctx, which would qualify for a batch, is sent at once
// with the new pair instead of waiting in a batch for the refresh that waits for it.
func TestAutoBatchCallFromOnTokenRefresh(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t, bitrix24test.WithRateLimit(0, 0))
	cfg := srv.OAuthConfig()
	var c *bitrix24.Client
	var inner error
	cfg.OnTokenRefresh = func(ctx context.Context, _ bitrix24.Token) error {
		inner = c.Call(ctx, "server.time", nil, nil)
		return nil
	}
	// WithTimeout(1s): the refresh's own deadline is 2 s, which a deadlock would reach.
	c, err := bitrix24.NewOAuthClient(cfg, bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithRateLimit(0, 0),
		bitrix24.WithAutoBatch(20*time.Millisecond), bitrix24.WithTimeout(time.Second))
	require.NoError(t, err)
	srv.ExpireAccessToken()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.Call(ctx, "server.time", nil, nil))
	require.NoError(t, inner, "the call made from OnTokenRefresh")
	assert.Equal(t, 1, srv.Refreshes())
}

// Ten calls that each answer 200 KiB under a 1 MiB limit succeed alone, so they succeed
// batched: the limit bounds each call's share, not the batch.
func TestAutoBatchLimitIsPerCall(t *testing.T) {
	t.Parallel()
	const n = 10
	c, direct, srv := newBatchingPortal(t, 200*time.Millisecond, bitrix24.WithMaxResponseSize(1<<20))
	ctx := context.Background()
	big := strings.Repeat("x", 200<<10)
	for i := range n {
		require.NoError(t, direct.UserOption.Set(ctx, map[string]any{"big" + strconv.Itoa(i): big}))
	}
	var got string
	_, err := c.UserOption.Get(ctx, "big0", &got)
	require.NoError(t, err, "alone")
	before, alone := srv.Requests("batch"), srv.Requests("user.option.get")
	errs := concurrently(t, n, func(ctx context.Context, i int) error {
		var v string
		_, err := c.UserOption.Get(ctx, "big"+strconv.Itoa(i), &v)
		if err == nil && v != big {
			t.Errorf("call %d: wrong value", i)
		}
		return err
	})
	for i, err := range errs {
		assert.NoError(t, err, "call %d", i)
	}
	assert.Positive(t, srv.Requests("batch")-before, "the calls were batched")
	assert.Equal(t, 0, srv.Requests("user.option.get")-alone, "calls sent alone after the batch's answer was refused")
}

// Calls that each answer more than the limit fail batched as they fail alone, and the
// oversized batch is not sent again: it is sent once, then each call alone once.
func TestAutoBatchOversizedAnswerIsNotRetried(t *testing.T) {
	t.Parallel()
	c, direct, srv := newBatchingPortal(t, bitrix24.MaxAutoBatchWait, bitrix24.WithMaxResponseSize(64<<10))
	ctx := context.Background()
	big := strings.Repeat("y", 100<<10)
	opts := map[string]any{}
	for i := range fullBatch {
		opts["huge"+strconv.Itoa(i)] = big
	}
	require.NoError(t, direct.UserOption.Set(ctx, opts))
	batches, gets := srv.Requests("batch"), srv.Requests("user.option.get")
	errs := concurrently(t, fullBatch, func(ctx context.Context, i int) error {
		_, err := c.UserOption.Get(ctx, "huge"+strconv.Itoa(i), nil)
		return err
	})
	for i, err := range errs {
		require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse, "call %d", i)
		assert.Contains(t, err.Error(), "exceeds", "call %d", i)
	}
	assert.Equal(t, 1, srv.Requests("batch")-batches, "batch requests: the oversized batch was sent again")
	assert.Equal(t, fullBatch, srv.Requests("user.option.get")-gets, "calls sent alone, once each")
}

// panickyLimiter panics in Wait.
type panickyLimiter struct{}

func (panickyLimiter) Wait(context.Context) error { panic("limiter boom") }

// A panic on the batcher's goroutine (here in the user's Limiter) is raised again in each
// caller's goroutine, where the caller can recover it; the process does not die.
func TestAutoBatchPanicReachesTheCaller(t *testing.T) {
	t.Parallel()
	c, _ := newPortal(t, nil, bitrix24.WithAutoBatch(10*time.Millisecond), bitrix24.WithLimiter(panickyLimiter{}))
	const n = 3
	recovered := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer func() { recovered[i] = recover() }()
			_ = c.Call(context.Background(), "server.time", nil, nil)
		})
	}
	wg.Wait()
	for i, r := range recovered {
		assert.Equal(t, "limiter boom", r, "caller %d", i)
	}
}

// A call whose query would exceed max_input_vars (1000 pairs) is sent alone, as JSON:
// in a batch the server's parse_str would drop the pairs beyond the cap.
func TestAutoBatchRespectsMaxInputVars(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil, bitrix24.WithAutoBatch(10*time.Millisecond))
	ids := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = strconv.Itoa(i + 1)
		}
		return s
	}
	ctx := context.Background()
	call := func(n int) error {
		return c.Call(ctx, "userfieldtype.list", map[string]any{"filter": map[string]any{"@ID": ids(n)}}, nil)
	}
	require.NoError(t, call(999))
	assert.Equal(t, 1, srv.Requests("batch"), "999 pairs (with the filter's key) fit in a batch command")
	require.NoError(t, call(1001))
	assert.Equal(t, 1, srv.Requests("batch"), "1001 pairs are sent alone")
	assert.Equal(t, 1, srv.Requests("userfieldtype.list"))
}

// After a burst of auto-batched calls, some given up while held, an idle client keeps no
// goroutine of the batcher.
func TestAutoBatchLeavesNoGoroutine(t *testing.T) {
	opts := []goleak.Option{goleak.IgnoreCurrent(),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait")}
	c, srv := newPortal(t, nil, bitrix24.WithAutoBatch(5*time.Millisecond))
	errs := concurrently(t, 120, func(ctx context.Context, i int) error {
		if i%10 == 0 {
			ctx, cancel := context.WithCancel(ctx)
			cancel() // gives up at once, maybe while held
			_ = c.Call(ctx, "server.time", nil, nil)
			return nil
		}
		return c.Call(ctx, "server.time", nil, nil)
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Positive(t, srv.Requests("batch"))
	goleak.VerifyNone(t, opts...)
}
