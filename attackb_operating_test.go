package bitrix24_test

// Attacks on the operating-time budget with answers a portal should not send, but a
// garbled proxy, a portal whose clock is far off or a hostile server can: a huge
// time.operating, an operating_reset_at far beyond the 10-minute window.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// rtFunc is an http.RoundTripper from a function.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// timeAnswers answers every request with result true and the time object timeJSON(now)
// gives, counting the requests.
func timeAnswers(n *atomic.Int32, timeJSON func(now time.Time) string) http.RoundTripper {
	return rtFunc(func(r *http.Request) (*http.Response, error) {
		n.Add(1)
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
			_ = r.Body.Close()
		}
		body := `{"result":true,"time":` + timeJSON(time.Now()) + `}`
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
	})
}

func TestAttackOperatingHugeUsedTimeHoldsTheMethod(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var sent atomic.Int32
		rt := timeAnswers(&sent, func(now time.Time) string {
			// 1e15 s does not fit a time.Duration: it must saturate, not wrap negative.
			return fmt.Sprintf(`{"operating":1e15,"operating_reset_at":%d}`, now.Add(5*time.Minute).Unix())
		})
		c, err := bitrix24.NewWebhookClient(testWebhook, bitrix24.WithHTTPClient(&http.Client{Transport: rt}),
			bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(0, 0, 0))
		require.NoError(t, err)
		require.NoError(t, c.Call(context.Background(), "crm.deal.get", nil, nil))
		used := c.Operating("crm.deal.get").Used
		assert.GreaterOrEqual(t, used, bitrix24.DefaultOperatingBudget, "a huge used time is over any budget, not negative")

		// The method is over its budget until the reset: a call that cannot wait for it
		// is refused before it is sent.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err = c.Call(ctx, "crm.deal.get", nil, nil)
		require.ErrorIs(t, err, bitrix24.ErrOperationTimeLimit)
		assert.Equal(t, int32(1), sent.Load(), "nothing sent while the method is over its budget")
	})
}

func TestAttackOperatingNegativeUsedTimeIsNotReported(t *testing.T) {
	t.Parallel()
	var sent atomic.Int32
	rt := timeAnswers(&sent, func(time.Time) string { return `{"operating":-5,"duration":-1,"processing":-2}` })
	c, err := bitrix24.NewWebhookClient(testWebhook, bitrix24.WithHTTPClient(&http.Client{Transport: rt}),
		bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(0, 0, 0))
	require.NoError(t, err)
	var resp bitrix24.Response
	require.NoError(t, c.Call(context.Background(), "crm.deal.get", nil, nil, bitrix24.WithResponse(&resp)))
	assert.GreaterOrEqual(t, c.Operating("crm.deal.get").Used, time.Duration(0))
	assert.GreaterOrEqual(t, resp.Time.Operating, time.Duration(0))
}

func TestAttackOperatingResetFarAheadDoesNotBlockForAYear(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var sent atomic.Int32
		rt := timeAnswers(&sent, func(now time.Time) string {
			// Near the limit, and a reset a year ahead: the window is 10 minutes long
			// (reference §7.2), so no reset is ever more than 10 minutes away; the
			// portal's clock is off, or the answer garbled.
			return fmt.Sprintf(`{"operating":470,"operating_reset_at":%d}`, now.Add(365*24*time.Hour).Unix())
		})
		c, err := bitrix24.NewWebhookClient(testWebhook, bitrix24.WithHTTPClient(&http.Client{Transport: rt}),
			bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(0, 0, 0))
		require.NoError(t, err)
		require.NoError(t, c.Call(context.Background(), "crm.deal.get", nil, nil))

		// A caller ready to wait out a whole window gets its call through.
		ctx, cancel := context.WithTimeout(context.Background(), 11*time.Minute)
		defer cancel()
		start := time.Now()
		require.NoError(t, c.Call(ctx, "crm.deal.get", nil, nil))
		assert.LessOrEqual(t, time.Since(start), 10*time.Minute)
		assert.Equal(t, int32(2), sent.Load())
	})
}

func TestAttackOperatingWaitWithoutDeadlineEndsOnCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var sent atomic.Int32
		rt := timeAnswers(&sent, func(now time.Time) string {
			return fmt.Sprintf(`{"operating":479,"operating_reset_at":%d}`, now.Add(9*time.Minute).Unix())
		})
		c, err := bitrix24.NewWebhookClient(testWebhook, bitrix24.WithHTTPClient(&http.Client{Transport: rt}),
			bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(0, 0, 0), bitrix24.WithAutoBatch(time.Millisecond))
		require.NoError(t, err)
		require.NoError(t, c.Call(context.Background(), "crm.deal.get", map[string]string{"id": "1"}, nil, bitrix24.WithAuthConnector("tool")))
		for _, batched := range []bool{false, true} {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				if batched {
					done <- c.Call(ctx, "crm.deal.get", map[string]string{"id": "2"}, nil)
					return
				}
				done <- c.Call(ctx, "crm.deal.get", map[string]string{"id": "2"}, nil, bitrix24.WithAuthConnector("tool"))
			}()
			synctest.Wait()
			start := time.Now()
			cancel()
			err := <-done
			require.ErrorIs(t, err, context.Canceled)
			assert.Zero(t, time.Since(start), "the held call returns at once on cancel")
		}
		assert.Equal(t, int32(1), sent.Load())
	})
}

// A call the budget refuses before sending is still a call with an id: its
// *APIError names it, as that of a call the server refused does.
func TestAttackOperatingRefusalNamesTheRequestID(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var sent atomic.Int32
		rt := timeAnswers(&sent, func(now time.Time) string {
			return fmt.Sprintf(`{"operating":479,"operating_reset_at":%d}`, now.Add(5*time.Minute).Unix())
		})
		c, err := bitrix24.NewWebhookClient(testWebhook, bitrix24.WithHTTPClient(&http.Client{Transport: rt}),
			bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(0, 0, 0), bitrix24.WithAutoBatch(time.Millisecond))
		require.NoError(t, err)
		require.NoError(t, c.Call(context.Background(), "crm.deal.get", nil, nil, bitrix24.WithAuthConnector("tool")))
		ctx, cancel := context.WithTimeout(bitrix24.WithRequestID(context.Background(), "trace-42"), time.Second)
		defer cancel()
		_, batchErr := c.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "crm.deal.get"})
		for name, err := range map[string]error{
			"Call":      c.Call(ctx, "crm.deal.get", nil, nil, bitrix24.WithAuthConnector("tool")),
			"autobatch": c.Call(ctx, "crm.deal.get", map[string]string{"id": "1"}, nil),
			"Batch":     batchErr,
		} {
			var apiErr *bitrix24.APIError
			require.ErrorAs(t, err, &apiErr, name)
			assert.Equal(t, "OPERATION_TIME_LIMIT", apiErr.Code, name)
			assert.Equal(t, "trace-42", apiErr.RequestID, name)
		}
		assert.Equal(t, int32(1), sent.Load())
	})
}

// The outer batch is not counted by the portal (reference §7.2): its time object says
// nothing of any method's budget. Only the commands' figures are learnt and reported.
func TestAttackOuterBatchTimeIsNotAMethodsFigure(t *testing.T) {
	t.Parallel()
	var sent atomic.Int32
	rt := rtFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		reset := time.Now().Add(5 * time.Minute).Unix()
		body := fmt.Sprintf(`{"result":{"result":{"a":true},"result_error":[],"result_total":[],"result_next":[],`+
			`"result_time":{"a":{"start":1,"finish":2,"duration":1,"processing":1,"operating":2,"operating_reset_at":%d}}},`+
			`"time":{"start":1,"finish":2,"duration":1,"processing":1,"operating":470,"operating_reset_at":%d}}`, reset, reset)
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
	})
	var mu sync.Mutex
	var reported []string
	obs := &bitrix24.Observer{Operating: func(_ context.Context, info bitrix24.OperatingInfo) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, info.Method)
	}}
	c, err := bitrix24.NewWebhookClient(testWebhook, bitrix24.WithHTTPClient(&http.Client{Transport: rt}),
		bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(0, 0, 0), bitrix24.WithObserver(obs))
	require.NoError(t, err)
	_, err = c.Batch(context.Background(), false, bitrix24.BatchCommand{Key: "a", Method: "crm.deal.get"})
	require.NoError(t, err)
	assert.Equal(t, bitrix24.OperatingTime{}, c.Operating("batch"))
	assert.Equal(t, 2*time.Second, c.Operating("crm.deal.get").Used)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"crm.deal.get"}, reported)
}

// BatchFormed reports a batch request about to be sent: not a chunk the budget refused
// before sending it.
func TestAttackBatchRefusedByTheBudgetIsNotReportedFormed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var sent atomic.Int32
		rt := timeAnswers(&sent, func(now time.Time) string {
			return fmt.Sprintf(`{"operating":479,"operating_reset_at":%d}`, now.Add(5*time.Minute).Unix())
		})
		var formed atomic.Int32
		obs := &bitrix24.Observer{BatchFormed: func(context.Context, bitrix24.BatchInfo) { formed.Add(1) }}
		c, err := bitrix24.NewWebhookClient(testWebhook, bitrix24.WithHTTPClient(&http.Client{Transport: rt}),
			bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(0, 0, 0), bitrix24.WithObserver(obs))
		require.NoError(t, err)
		require.NoError(t, c.Call(context.Background(), "crm.deal.get", nil, nil))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = c.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "crm.deal.get"})
		require.ErrorIs(t, err, bitrix24.ErrOperationTimeLimit)
		assert.Equal(t, int32(1), sent.Load())
		assert.Zero(t, formed.Load(), "no batch was sent")
	})
}
