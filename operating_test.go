package bitrix24_test

// The operating-time budget against bitrix24test, in testing/synctest bubbles: the fake
// portal's clock is the bubble's (InProcessClient), so ten minutes of waiting take no
// real time and the schedule is exact.

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// opCost is what a call of the costly method costs on the fake portal: 5 calls use 500 s
// of the default 480 s (the fifth crosses the limit and completes).
const opCost = 100 * time.Second

// budgetPortal starts a portal (outside the bubble, as it listens) where user.option.get
// and userfieldtype.add cost opCost.
func budgetPortal(t *testing.T) *bitrix24test.Server {
	t.Helper()
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0))
	t.Cleanup(srv.Close)
	srv.SetMethodCost("user.option.get", opCost)
	srv.SetMethodCost("userfieldtype.add", opCost)
	return srv
}

// budgetClient is a client of srv inside the bubble.
func budgetClient(t *testing.T, srv *bitrix24test.Server, opts ...bitrix24.Option) *bitrix24.Client {
	t.Helper()
	c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), append([]bitrix24.Option{
		bitrix24.WithHTTPClient(srv.InProcessClient()), bitrix24.WithRateLimit(0, 0)}, opts...)...)
	require.NoError(t, err)
	return c
}

// useUp makes the five calls that use 500 s of user.option.get's budget.
func useUp(t *testing.T, c *bitrix24.Client) {
	t.Helper()
	for range 5 {
		require.NoError(t, c.Call(context.Background(), "user.option.get", nil, nil))
	}
}

func TestOperatingLearnsFromCallsAndBatchCommands(t *testing.T) {
	t.Parallel()
	srv := budgetPortal(t)
	synctest.Test(t, func(t *testing.T) {
		c := budgetClient(t, srv)
		start := time.Now()
		assert.Equal(t, bitrix24.OperatingTime{}, c.Operating("user.option.get"))
		require.NoError(t, c.Call(context.Background(), "User.Option.Get", nil, nil))
		want := bitrix24.OperatingTime{Used: opCost, ResetAt: start.Add(10 * time.Minute)}
		assert.Equal(t, want, c.Operating("USER.OPTION.GET"), "compared case-insensitively")
		assert.Equal(t, want.ResetAt, c.OperatingResetAt("user.option.get"))

		// Each command of a batch under its own method.
		_, err := c.Batch(context.Background(), false,
			bitrix24.BatchCommand{Key: "a", Method: "user.option.get"},
			bitrix24.BatchCommand{Key: "b", Method: "user.option.get"},
			bitrix24.BatchCommand{Key: "c", Method: "server.time"})
		require.NoError(t, err)
		assert.Equal(t, 3*opCost, c.Operating("user.option.get").Used)
		// Cheap: nothing recorded, but the portal reports the reset all the same (the
		// recorded server.time of testdata/real/oi_server_time.json: operating 0, reset
		// at start + 600 s).
		assert.Equal(t, bitrix24.OperatingTime{ResetAt: start.Add(10 * time.Minute)}, c.Operating("server.time"), "cheap: nothing recorded")
		assert.Equal(t, bitrix24.OperatingTime{}, c.Operating("batch"), "the outer batch is not counted")
	})
}

func TestOperatingBudgetWaitsForReset(t *testing.T) {
	t.Parallel()
	srv := budgetPortal(t)
	synctest.Test(t, func(t *testing.T) {
		c := budgetClient(t, srv)
		start := time.Now()
		useUp(t, c)
		require.Equal(t, 500*time.Second, c.Operating("user.option.get").Used)

		done := make(chan error, 1)
		go func() { done <- c.Call(context.Background(), "user.option.get", nil, nil) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("the call was not held: %v", err)
		default:
		}
		// Other methods are not held.
		require.NoError(t, c.Call(context.Background(), "server.time", nil, nil))
		assert.Equal(t, start, time.Now())

		require.NoError(t, <-done)
		assert.Equal(t, start.Add(10*time.Minute), time.Now(), "held until operating_reset_at")
		assert.Equal(t, 0, srv.OperationTimeLimitRefusals())
		assert.Equal(t, 6, srv.Requests("user.option.get"))
	})
}

func TestOperatingBudgetWaitCtxCannotAfford(t *testing.T) {
	t.Parallel()
	srv := budgetPortal(t)
	synctest.Test(t, func(t *testing.T) {
		c := budgetClient(t, srv)
		start := time.Now()
		useUp(t, c)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		err := c.Call(ctx, "user.option.get", nil, nil)
		require.ErrorIs(t, err, bitrix24.ErrOperationTimeLimit)
		var apiErr *bitrix24.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, start.Add(10*time.Minute), apiErr.ResetAt)
		assert.Equal(t, "user.option.get", apiErr.Method)
		assert.Contains(t, err.Error(), "blocked until")
		assert.Equal(t, start, time.Now(), "returned at once")
		assert.Equal(t, 5, srv.Requests("user.option.get"), "nothing sent")

		// A ctx without deadline ends the wait when it is cancelled.
		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(time.Minute, cancel)
		err = c.Call(ctx, "user.option.get", nil, nil)
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, start.Add(time.Minute), time.Now())
		assert.Equal(t, 5, srv.Requests("user.option.get"))
	})
}

func TestOperatingBudgetOff(t *testing.T) {
	t.Parallel()
	srv := budgetPortal(t)
	synctest.Test(t, func(t *testing.T) {
		c := budgetClient(t, srv, bitrix24.WithOperatingBudget(0))
		useUp(t, c)
		err := c.Call(context.Background(), "user.option.get", nil, nil)
		require.ErrorIs(t, err, bitrix24.ErrOperationTimeLimit)
		var apiErr *bitrix24.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, 429, apiErr.StatusCode)
		assert.Equal(t, c.Operating("user.option.get").ResetAt, apiErr.ResetAt)
		assert.Equal(t, 1, srv.OperationTimeLimitRefusals())
	})
	_, err := bitrix24.NewWebhookClient("https://x.bitrix24.com/rest/1/abc/", bitrix24.WithOperatingBudget(-time.Second))
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	_, err = bitrix24.NewWebhookClient("https://x.bitrix24.com/rest/1/abc/", bitrix24.WithOperatingWait(-time.Second))
	require.ErrorIs(t, err, bitrix24.ErrValidation)
}

// A call refused with OPERATION_TIME_LIMIT did not run: WithOperatingWait sends it again
// after the reset, even a method that is not safe to repeat.
func TestOperatingWaitResendsAfterTheReset(t *testing.T) {
	t.Parallel()
	srv := budgetPortal(t)
	synctest.Test(t, func(t *testing.T) {
		c := budgetClient(t, srv, bitrix24.WithOperatingBudget(0), bitrix24.WithOperatingWait(11*time.Minute))
		short := budgetClient(t, srv, bitrix24.WithOperatingBudget(0), bitrix24.WithOperatingWait(30*time.Second))
		start := time.Now()
		add := func(c *bitrix24.Client, i int) error {
			return c.UserFieldType.Add(context.Background(), bitrix24.UserFieldType{
				UserTypeID: fmt.Sprintf("t%d", i), Handler: fmt.Sprintf("https://app.example/h%d", i), Title: "T"})
		}
		for i := range 5 {
			require.NoError(t, add(c, i))
		}
		// short knows no reset (it never called the method): it would wait a minute, more
		// than its 30 s, so it fails at once.
		err := add(short, 5)
		require.ErrorIs(t, err, bitrix24.ErrOperationTimeLimit)
		assert.Equal(t, start, time.Now())

		require.NoError(t, add(c, 5))
		assert.Equal(t, start.Add(10*time.Minute), time.Now())
		assert.Equal(t, 6, srv.Calls("userfieldtype.add"), "each ran once")
		assert.Equal(t, 2, srv.OperationTimeLimitRefusals())
	})
}

// Waiting callers go one at a time after the reset until an answer brings the new
// figure: here the reset frees only the oldest minute (100 s of 500 s).
func TestOperatingBudgetProbesAfterTheReset(t *testing.T) {
	t.Parallel()
	srv := budgetPortal(t)
	synctest.Test(t, func(t *testing.T) {
		c := budgetClient(t, srv)
		start := time.Now()
		require.NoError(t, c.Call(context.Background(), "user.option.get", nil, nil))
		time.Sleep(time.Minute)
		for range 4 {
			require.NoError(t, c.Call(context.Background(), "user.option.get", nil, nil))
		}
		errs := hammer(4, 4, func(int) error { return c.Call(context.Background(), "user.option.get", nil, nil) })
		require.Empty(t, errs)
		assert.Equal(t, 0, srv.OperationTimeLimitRefusals())
		// One went at 10:00 (400 s + 100 s), the rest when the second minute expired at
		// 11:00 (and the third...), each crossing call completing.
		assert.Equal(t, start.Add(11*time.Minute), time.Now())
	})
}

func TestOperatingBudgetHoldsAutoBatchedCallsOfTheMethodOnly(t *testing.T) {
	t.Parallel()
	srv := budgetPortal(t)
	synctest.Test(t, func(t *testing.T) {
		c := budgetClient(t, srv, bitrix24.WithAutoBatch(10*time.Millisecond))
		t0 := time.Now()
		useUp(t, c) // learnt from the automatic batches' result_time
		require.Equal(t, 500*time.Second, c.Operating("user.option.get").Used)
		start := time.Now()

		held := make(chan error, 1)
		go func() { held <- c.Call(context.Background(), "user.option.get", nil, nil) }()
		require.NoError(t, c.UserOption.Set(context.Background(), map[string]any{"k": "v"}))
		assert.Equal(t, start.Add(10*time.Millisecond), time.Now(), "the other call went in its batch")
		require.NoError(t, <-held)
		assert.Equal(t, t0.Add(10*time.Minute+10*time.Millisecond), time.Now(), "held until operating_reset_at, then batched")
		assert.Equal(t, 0, srv.OperationTimeLimitRefusals())
	})
}

func TestOperatingBudgetHoldsBatchesWithTheMethod(t *testing.T) {
	t.Parallel()
	srv := budgetPortal(t)
	synctest.Test(t, func(t *testing.T) {
		c := budgetClient(t, srv)
		start := time.Now()
		useUp(t, c)
		_, err := c.Batch(context.Background(), false, bitrix24.BatchCommand{Key: "t", Method: "server.time"})
		require.NoError(t, err)
		assert.Equal(t, start, time.Now(), "a batch of other methods goes")

		res, err := c.Batch(context.Background(), true,
			bitrix24.BatchCommand{Key: "t", Method: "server.time"},
			bitrix24.BatchCommand{Key: "g", Method: "user.option.get"})
		require.NoError(t, err)
		assert.Empty(t, res.Errors)
		assert.Equal(t, start.Add(10*time.Minute), time.Now(), "held until the reset")
		assert.Equal(t, 0, srv.OperationTimeLimitRefusals())

		// A command refused all the same (here: the budget off) carries ResetAt.
		off := budgetClient(t, srv, bitrix24.WithOperatingBudget(0))
		for range 4 {
			require.NoError(t, off.Call(context.Background(), "user.option.get", nil, nil))
		}
		res, err = off.Batch(context.Background(), false, bitrix24.BatchCommand{Key: "g", Method: "user.option.get"})
		require.NoError(t, err)
		require.ErrorIs(t, res.Errors["g"], bitrix24.ErrOperationTimeLimit)
		assert.Equal(t, off.Operating("user.option.get").ResetAt, res.Errors["g"].ResetAt)
		assert.False(t, res.Errors["g"].ResetAt.IsZero())
	})
}

// An automatic batch's command refused with OPERATION_TIME_LIMIT is sent again, alone,
// after the reset.
func TestOperatingWaitResendsAutoBatchedCalls(t *testing.T) {
	t.Parallel()
	srv := budgetPortal(t)
	synctest.Test(t, func(t *testing.T) {
		c := budgetClient(t, srv, bitrix24.WithAutoBatch(10*time.Millisecond),
			bitrix24.WithOperatingBudget(0), bitrix24.WithOperatingWait(11*time.Minute))
		t0 := time.Now()
		useUp(t, c)
		require.NoError(t, c.Call(context.Background(), "user.option.get", nil, nil))
		assert.Equal(t, 1, srv.OperationTimeLimitRefusals(), "refused in its batch")
		assert.Equal(t, t0.Add(10*time.Minute), time.Now(), "sent again at the reset")
		assert.Equal(t, 6, srv.Calls("user.option.get"))
	})
}

// A refusal the client did not see coming (another process used the budget) holds the
// method: the next call that cannot wait fails at once, without a request.
func TestOperatingBudgetHoldsAfterARefusal(t *testing.T) {
	t.Parallel()
	srv := budgetPortal(t)
	synctest.Test(t, func(t *testing.T) {
		other := budgetClient(t, srv)
		useUp(t, other)
		c := budgetClient(t, srv) // knows nothing of user.option.get
		err := c.Call(context.Background(), "user.option.get", nil, nil)
		require.ErrorIs(t, err, bitrix24.ErrOperationTimeLimit)
		assert.Equal(t, 1, srv.OperationTimeLimitRefusals())

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.ErrorIs(t, c.Call(ctx, "user.option.get", nil, nil), bitrix24.ErrOperationTimeLimit)
		assert.Equal(t, 1, srv.OperationTimeLimitRefusals(), "nothing sent")
		require.NoError(t, c.Call(context.Background(), "server.time", nil, nil), "other methods go")
	})
}
