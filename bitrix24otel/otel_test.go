package bitrix24otel_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

const queryLimitBody = `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`

func TestSpanOfACall(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	rec := newRecorder(t)
	c := srv.NewClient(rec.option())

	ctx := bitrix24.WithRequestID(context.Background(), "req-42")
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"theme": "dark"}))

	spans := rec.named("user.option.set")
	require.Len(t, spans, 1)
	s := spans[0]
	assert.Equal(t, trace.SpanKindClient, s.SpanKind())
	assert.Equal(t, codes.Unset, s.Status().Code)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	want := map[string]attribute.Value{
		"bitrix24.method":           attribute.StringValue("user.option.set"),
		"server.address":            attribute.StringValue(u.Hostname()),
		"http.response.status_code": attribute.IntValue(200),
		"bitrix24.attempts":         attribute.IntValue(1),
		"bitrix24.request_id":       attribute.StringValue("req-42"),
	}
	for k, v := range want {
		got, ok := attr(s, k)
		if assert.True(t, ok, k) {
			assert.Equal(t, v, got, k)
		}
	}
	_, hasErr := attr(s, "error.type")
	assert.False(t, hasErr)

	last, ok := srv.LastRequest("user.option.set")
	require.True(t, ok)
	assert.Equal(t, "req-42", last.Header.Get("X-Request-ID"), "the span's id is the one sent")

	assert.Equal(t, int64(1), rec.intSum(t, "bitrix24.client.calls",
		attribute.String("bitrix24.method", "user.option.set"), attribute.String("outcome", "ok")))
	m, ok := rec.metric(t, "bitrix24.client.call.duration")
	require.True(t, ok)
	assert.Equal(t, "s", m.Unit)
	h := m.Data.(metricdata.Histogram[float64])
	require.Len(t, h.DataPoints, 1)
	assert.Equal(t, uint64(1), h.DataPoints[0].Count)
}

func TestRetriedCallShowsTwoAttempts(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	rec := newRecorder(t)
	c := srv.NewClient(rec.option())
	srv.InjectFault("user.option.set", 1, bitrix24test.Fault{Status: 503, Body: queryLimitBody})

	require.NoError(t, c.UserOption.Set(context.Background(), map[string]any{"theme": "dark"}))

	spans := rec.named("user.option.set")
	require.Len(t, spans, 1)
	attempts, _ := attr(spans[0], "bitrix24.attempts")
	assert.Equal(t, int64(2), attempts.AsInt64())
	status, _ := attr(spans[0], "http.response.status_code")
	assert.Equal(t, int64(200), status.AsInt64(), "the status of the last answer")
	assert.Equal(t, codes.Unset, spans[0].Status().Code, "the call succeeded in the end")
	require.Contains(t, events(spans[0]), "bitrix24.retry")
	for _, e := range spans[0].Events() {
		if e.Name == "bitrix24.retry" {
			assert.Contains(t, e.Attributes, attribute.String("error.type", "QUERY_LIMIT_EXCEEDED"))
			assert.Contains(t, e.Attributes, attribute.Int("bitrix24.attempt", 1))
		}
	}
	assert.Equal(t, int64(1), rec.intSum(t, "bitrix24.client.retries",
		attribute.String("bitrix24.method", "user.option.set")))
	assert.Equal(t, 2, srv.Requests("user.option.set"))
}

func TestFailedCallHasErrorTypeAndStatus(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	rec := newRecorder(t)
	c := srv.NewClient(rec.option())

	err := c.UserFieldType.Delete(context.Background(), "missing")
	require.ErrorIs(t, err, bitrix24.ErrNotFound)

	spans := rec.named("userfieldtype.delete")
	require.Len(t, spans, 1)
	et, ok := attr(spans[0], "error.type")
	require.True(t, ok)
	assert.Equal(t, "ERROR_NOT_FOUND", et.AsString())
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	var apiErr *bitrix24.APIError
	require.ErrorAs(t, err, &apiErr)
	id, _ := attr(spans[0], "bitrix24.request_id")
	assert.Equal(t, apiErr.RequestID, id.AsString(), "the error and the span name the same request")
	assert.Len(t, apiErr.RequestID, 32)
	assert.Equal(t, int64(1), rec.intSum(t, "bitrix24.client.calls", attribute.String("outcome", "error")))
	assert.Equal(t, int64(0), rec.intSum(t, "bitrix24.client.calls", attribute.String("outcome", "ok")))
}

func TestRefreshCountedOnceForConcurrentCalls(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	rec := newRecorder(t)
	c := srv.NewClient(rec.option())
	require.NoError(t, c.UserOption.Set(context.Background(), map[string]any{"warm": "up"}))
	srv.ExpireAccessToken()

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			var v string
			_, err := c.UserOption.Get(context.Background(), fmt.Sprint("k", i), &v)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	assert.Equal(t, 1, srv.Refreshes(), "the portal saw one refresh")
	assert.Equal(t, int64(1), rec.intSum(t, "bitrix24.client.token.refreshes"), "and the metric counts one")
	assert.Equal(t, int64(1), rec.intSum(t, "bitrix24.client.token.refreshes",
		attribute.String("bitrix24.token.reason", "expired_token"), attribute.String("outcome", "ok")))
	assert.Len(t, rec.named("user.option.get"), n)
	refresh := rec.named("oauth/token")
	require.Len(t, refresh, 1, "the refresh is a span of its own")
	reason, _ := attr(refresh[0], "bitrix24.token.reason")
	assert.Equal(t, "expired_token", reason.AsString())
	waits := 0
	for _, s := range rec.named("user.option.get") {
		for _, e := range s.Events() {
			if e.Name == "bitrix24.token.refresh" {
				waits++
			}
		}
	}
	assert.Positive(t, waits, "calls that waited for the refresh say so on their spans")
}

func TestAutoBatchShowsItsSize(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	rec := newRecorder(t)
	// A batch goes out when full: 50 calls, whatever the machine's speed.
	c := srv.NewClient(rec.option(), bitrix24.WithAutoBatch(bitrix24.MaxAutoBatchWait))

	const n = bitrix24.MaxBatchCommands
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var v string
			_, err := c.UserOption.Get(context.Background(), fmt.Sprint("k", i), &v)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	require.Equal(t, bitrix24.AutoBatchStats{Calls: n, Batches: 1}, c.AutoBatchStats())

	batches := rec.named("batch")
	require.Len(t, batches, 1)
	size, ok := attr(batches[0], "bitrix24.batch.size")
	require.True(t, ok)
	assert.Equal(t, attribute.INT64, size.Type(), "a size is an integer")
	assert.Equal(t, int64(n), size.AsInt64())
	assert.Len(t, batches[0].Links(), n, "the batch links the calls it carries")
	batchID, _ := attr(batches[0], "bitrix24.request_id")

	carried := rec.named("user.option.get")
	require.Len(t, carried, n)
	for _, s := range carried {
		v, _ := attr(s, "bitrix24.autobatch.size")
		assert.Equal(t, int64(n), v.AsInt64())
		id, _ := attr(s, "bitrix24.request_id")
		assert.Equal(t, batchID, id, "a carried call names the request that carried it")
	}
	last, _ := srv.LastRequest("batch")
	assert.Equal(t, batchID.AsString(), last.Header.Get("X-Request-ID"))

	m, ok := rec.metric(t, "bitrix24.client.batch.size")
	require.True(t, ok)
	h := m.Data.(metricdata.Histogram[int64])
	require.Len(t, h.DataPoints, 1)
	assert.Equal(t, int64(n), h.DataPoints[0].Sum)
	assert.Equal(t, int64(n), rec.intSum(t, "bitrix24.client.calls",
		attribute.String("bitrix24.method", "user.option.get"), attribute.String("outcome", "ok")))
}

func TestOperatingGaugeFollowsTheFake(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	srv.SetMethodCost("user.option.set", 3*time.Second)
	rec := newRecorder(t)
	c := srv.NewClient(rec.option())

	var resp bitrix24.Response
	for i := 1; i <= 3; i++ {
		require.NoError(t, c.Call(context.Background(), "user.option.set",
			map[string]any{"options": map[string]any{"n": i}}, nil, bitrix24.WithResponse(&resp)))
		// The fake adds the call's real duration to its cost.
		assert.InDelta(t, 3*float64(i), gauge(t, rec, "user.option.set"), 0.5, "after call %d", i)
		assert.InDelta(t, resp.Time.Operating.Seconds(), gauge(t, rec, "user.option.set"), 0.001,
			"the gauge is the figure of the last answer")
	}
	// A batch command reports its own method's figure.
	res, err := c.Batch(context.Background(), false, bitrix24.BatchCommand{
		Key: "a", Method: "user.option.set", Params: map[string]any{"options": map[string]any{"n": "4"}}})
	require.NoError(t, err)
	assert.InDelta(t, 12, gauge(t, rec, "user.option.set"), 0.5)
	assert.InDelta(t, res.Times["a"].Operating.Seconds(), gauge(t, rec, "user.option.set"), 0.001)
}

// gauge is the value of bitrix24.client.operating for method.
func gauge(t *testing.T, rec *recorder, method string) float64 {
	t.Helper()
	m, ok := rec.metric(t, "bitrix24.client.operating")
	require.True(t, ok)
	assert.Equal(t, "s", m.Unit)
	g, ok := m.Data.(metricdata.Gauge[float64])
	require.True(t, ok, "%T", m.Data)
	for _, dp := range g.DataPoints {
		if v, _ := dp.Attributes.Value("bitrix24.method"); v.AsString() == method {
			return dp.Value
		}
	}
	t.Fatalf("no operating figure for %s", method)
	return 0
}

func TestLimiterWaitIsMeasured(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	rec := newRecorder(t)
	c := srv.NewClient(rec.option(), bitrix24.WithRateLimit(1000, 10))
	for range 3 {
		require.NoError(t, c.UserOption.Set(context.Background(), map[string]any{"theme": "dark"}))
	}
	m, ok := rec.metric(t, "bitrix24.client.limiter.wait")
	require.True(t, ok)
	assert.Equal(t, "s", m.Unit)
	h := m.Data.(metricdata.Histogram[float64])
	require.Len(t, h.DataPoints, 1)
	assert.Equal(t, uint64(3), h.DataPoints[0].Count)
	for _, s := range rec.named("user.option.set") {
		assert.Contains(t, events(s), "bitrix24.limiter.wait")
	}
}

func TestBatchSpan(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	rec := newRecorder(t)
	c := srv.NewClient(rec.option())
	cmds := make([]bitrix24.BatchCommand, 60)
	for i := range cmds {
		cmds[i] = bitrix24.BatchCommand{Key: fmt.Sprint("k", i), Method: "user.option.get", Params: map[string]string{"option": "x"}}
	}
	_, err := c.Batch(context.Background(), false, cmds...)
	require.NoError(t, err)
	spans := rec.named("batch")
	require.Len(t, spans, 1, "one span per call, whatever its chunks")
	size, _ := attr(spans[0], "bitrix24.batch.size")
	assert.Equal(t, int64(60), size.AsInt64())
	attempts, _ := attr(spans[0], "bitrix24.attempts")
	assert.Equal(t, int64(2), attempts.AsInt64(), "two chunks, two requests")
	var sizes []int64
	for _, e := range spans[0].Events() {
		if e.Name == "bitrix24.batch" {
			for _, kv := range e.Attributes {
				if kv.Key == "bitrix24.batch.size" {
					sizes = append(sizes, kv.Value.AsInt64())
				}
			}
		}
	}
	assert.Equal(t, []int64{50, 10}, sizes, "an event per chunk")
}

func TestTwoInstrumentsEachEndTheirSpan(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	rec := newRecorder(t)
	c := srv.NewClient(rec.option(), rec.option())
	require.NoError(t, c.UserOption.Set(context.Background(), map[string]any{"theme": "dark"}))
	spans := rec.named("user.option.set")
	require.Len(t, spans, 2, "both spans ended")
	assert.Equal(t, spans[1].SpanContext().SpanID(), spans[0].Parent().SpanID(), "the second is a child of the first")
	assert.Equal(t, int64(2), rec.intSum(t, "bitrix24.client.calls"))
}
