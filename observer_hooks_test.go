package bitrix24_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// callKey marks the context CallStart returned, to see it reach the later hooks.
type callKey struct{}

// hookLog records what an Observer is told, one line per hook.
type hookLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *hookLog) add(ctx context.Context, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mark, _ := ctx.Value(callKey{}).(string)
	l.lines = append(l.lines, mark+fmt.Sprintf(format, args...))
}

func (l *hookLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (l *hookLog) observer(name string) *bitrix24.Observer {
	return &bitrix24.Observer{
		CallStart: func(ctx context.Context, i bitrix24.CallStartInfo) context.Context {
			l.add(ctx, "start %s batch=%d auto=%v", i.Method, i.BatchSize, i.AutoBatch)
			return context.WithValue(ctx, callKey{}, name+":")
		},
		CallDone: func(ctx context.Context, i bitrix24.CallDoneInfo) {
			l.add(ctx, "done %s attempts=%d status=%d err=%v", i.Method, i.Attempts, i.StatusCode, i.Err != nil)
		},
		AttemptDone: func(ctx context.Context, i bitrix24.AttemptInfo) {
			l.add(ctx, "attempt %d status=%d", i.Attempt, i.StatusCode)
		},
		LimiterWait: func(ctx context.Context, i bitrix24.WaitInfo) { l.add(ctx, "limiter %s", i.Method) },
		TokenWait:   func(ctx context.Context, i bitrix24.WaitInfo) { l.add(ctx, "token wait %s", i.Reason) },
		TokenRefresh: func(ctx context.Context, i bitrix24.RefreshInfo) {
			l.add(ctx, "refresh %s err=%v", i.Reason, i.Err != nil)
		},
		Retry: func(ctx context.Context, i bitrix24.RetryInfo) {
			l.add(ctx, "retry after %d delay>0=%v %v", i.Attempt, i.Delay > 0, i.Err != nil)
		},
		BatchFormed: func(ctx context.Context, i bitrix24.BatchInfo) { l.add(ctx, "batch %d auto=%v", i.Size, i.Auto) },
		Operating: func(ctx context.Context, i bitrix24.OperatingInfo) {
			l.add(ctx, "operating %s %v", i.Method, i.Used.Round(time.Second))
		},
	}
}

func TestObserverSeesEveryStepOfACall(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	srv.SetMethodCost("user.option.set", 2*time.Second)
	var log hookLog
	c := srv.NewClient(bitrix24.WithObserver(log.observer("c")))
	srv.InjectFault("user.option.set", 1, bitrix24test.Fault{Status: 503, Body: queryLimitBody})

	require.NoError(t, c.UserOption.Set(context.Background(), map[string]any{"a": "1"}))
	assert.Equal(t, []string{
		"start user.option.set batch=0 auto=false",
		"c:limiter user.option.set",
		"c:attempt 1 status=503",
		"c:retry after 1 delay>0=true true",
		"c:limiter user.option.set",
		"c:attempt 2 status=200",
		"c:operating user.option.set 2s",
		"c:done user.option.set attempts=2 status=200 err=false",
	}, log.all())
}

func TestObserverSeesTheRefreshOnce(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	var log hookLog
	c := srv.NewClient(bitrix24.WithObserver(log.observer("c")), bitrix24.WithRateLimit(0, 0))
	srv.ExpireAccessToken()
	require.NoError(t, c.UserOption.Set(context.Background(), map[string]any{"a": "1"}))
	assert.Equal(t, []string{
		"start user.option.set batch=0 auto=false",
		"c:attempt 1 status=401",
		"refresh expired_token err=false", // on the refresh's own context
		"c:token wait expired_token",
		"c:attempt 2 status=200",
		"c:operating user.option.set 0s",
		"c:done user.option.set attempts=2 status=200 err=false",
	}, log.all())
}

func TestObserverSeesBatches(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	var log hookLog
	c := srv.NewClient(bitrix24.WithObserver(log.observer("c")), bitrix24.WithRateLimit(0, 0),
		bitrix24.WithAutoBatch(bitrix24.MaxAutoBatchWait))
	cmds := make([]bitrix24.BatchCommand, 51)
	for i := range cmds {
		cmds[i] = bitrix24.BatchCommand{Key: fmt.Sprint("k", i), Method: "server.time"}
	}
	_, err := c.Batch(context.Background(), false, cmds...)
	require.NoError(t, err)
	lines := log.all()
	assert.Equal(t, "start batch batch=51 auto=false", lines[0])
	assert.Contains(t, lines, "c:batch 50 auto=false")
	assert.Contains(t, lines, "c:batch 1 auto=false")
	assert.Equal(t, "c:done batch attempts=2 status=200 err=false", lines[len(lines)-1])

	log = hookLog{}
	var wg sync.WaitGroup
	for range bitrix24.MaxBatchCommands {
		wg.Go(func() { assert.NoError(t, c.Call(context.Background(), "server.time", nil, nil)) })
	}
	wg.Wait()
	lines = log.all()
	assert.Contains(t, lines, "start batch batch=50 auto=true")
	assert.Contains(t, lines, "c:batch 50 auto=true")
	assert.Contains(t, lines, "c:done batch attempts=1 status=200 err=false")
	carried := 0
	for _, l := range lines {
		if l == "c:done server.time attempts=1 status=200 err=false" {
			carried++
		}
	}
	assert.Equal(t, bitrix24.MaxBatchCommands, carried, "each carried call ends with the batch's attempt and status")
}

func TestObserversChainAndPanicsAreContained(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	var first, second hookLog
	boom := func(context.Context, bitrix24.AttemptInfo) { panic("observer bug") }
	c := srv.NewClient(
		bitrix24.WithObserver(first.observer("one")),
		bitrix24.WithObserver(&bitrix24.Observer{
			AttemptDone: boom,
			CallStart: func(context.Context, bitrix24.CallStartInfo) context.Context {
				panic("observer bug")
			},
		}),
		bitrix24.WithObserver(second.observer("two")),
		bitrix24.WithRateLimit(0, 0))
	require.NoError(t, c.UserOption.Set(context.Background(), map[string]any{"a": "1"}))
	assert.Equal(t, []string{
		"start user.option.set batch=0 auto=false",
		"one:attempt 1 status=200",
		"one:operating user.option.set 0s",
		"one:done user.option.set attempts=1 status=200 err=false",
	}, first.all())
	assert.Equal(t, []string{
		"one:start user.option.set batch=0 auto=false", // derived from the first observer's context
		"two:attempt 1 status=200",
		"two:operating user.option.set 0s",
		"two:done user.option.set attempts=1 status=200 err=false",
	}, second.all())

	_, err := bitrix24.NewWebhookClient(srv.WebhookURL(), bitrix24.WithObserver(nil))
	require.ErrorIs(t, err, bitrix24.ErrValidation)
}
