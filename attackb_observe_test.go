package bitrix24_test

// Attacks on the merged call path: request ids, observer hooks that panic, packed walks
// with bad options, against the fake portal over loopback.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

func TestAttackBadRequestIDRefusedBeforeSendingOnEveryPath(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil, bitrix24.WithAutoBatch(time.Millisecond))
	before := len(srv.RequestLog())
	for _, id := range []string{"a\r\nX-Evil: 1", "a\nb", "é", "a\tb", "\x00", "a\x7f", strings.Repeat("x", bitrix24.MaxRequestIDLength+1)} {
		ctx := bitrix24.WithRequestID(context.Background(), id)
		paths := map[string]error{
			"Call":      c.Call(ctx, "user.option.get", nil, nil),
			"autobatch": c.Call(ctx, "user.option.get", map[string]string{"option": "x"}, nil),
			"service":   c.UserOption.Set(ctx, map[string]any{"k": "v"}),
		}
		_, paths["Batch"] = c.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "server.time"})
		for _, err := range c.List(ctx, "crm.deal.list", nil, bitrix24.WithPagesPerRequest(5)) {
			paths["List"] = err
			break
		}
		for _, err := range c.Scan(ctx, "crm.deal.list", nil, bitrix24.WithPagesPerRequest(5)) {
			paths["Scan"] = err
			break
		}
		for name, err := range paths {
			require.ErrorIs(t, err, bitrix24.ErrValidation, "%s with id %q", name, id)
		}
	}
	assert.Equal(t, before, len(srv.RequestLog()), "nothing sent")
	// The longest id allowed goes through, on every attempt of the call.
	id := strings.Repeat("y", bitrix24.MaxRequestIDLength)
	srv.InjectFault("user.option.get", 1, bitrix24test.Fault{Status: 503, Body: `{"error":"INTERNAL_SERVER_ERROR","error_description":"x"}`})
	plain, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithRetry(1, 0, 0))
	require.NoError(t, err)
	require.NoError(t, plain.Call(bitrix24.WithRequestID(context.Background(), id), "user.option.get", nil, nil))
	log := srv.RequestLog()[before:]
	require.Len(t, log, 2)
	for _, r := range log {
		assert.Equal(t, id, r.Header.Get("X-Request-ID"))
	}
}

func TestAttackPagesPerRequestOutOfRangeSendsNothing(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	for _, n := range []int{0, -1, bitrix24.MaxBatchCommands + 1, 1 << 40} {
		for name, seq := range map[string]func() (json.RawMessage, error){
			"List": first(c.List(context.Background(), "crm.deal.list", nil, bitrix24.WithPagesPerRequest(n))),
			"Scan": first(c.Scan(context.Background(), "crm.deal.list", nil, bitrix24.WithPagesPerRequest(n))),
		} {
			_, err := seq()
			require.ErrorIs(t, err, bitrix24.ErrValidation, "%s with %d pages", name, n)
		}
	}
	assert.Empty(t, srv.RequestLog())
}

// first returns a function giving the first item of seq.
func first(seq func(func(json.RawMessage, error) bool)) func() (json.RawMessage, error) {
	return func() (raw json.RawMessage, err error) {
		for r, e := range seq {
			raw, err = r, e
			break
		}
		return raw, err
	}
}

// panicky is an observer whose every hook panics.
func panicky() *bitrix24.Observer {
	boom := func() { panic("observer hook panics") }
	return &bitrix24.Observer{
		CallStart:     func(context.Context, bitrix24.CallStartInfo) context.Context { boom(); return nil },
		CallDone:      func(context.Context, bitrix24.CallDoneInfo) { boom() },
		AttemptDone:   func(context.Context, bitrix24.AttemptInfo) { boom() },
		LimiterWait:   func(context.Context, bitrix24.WaitInfo) { boom() },
		OperatingWait: func(context.Context, bitrix24.WaitInfo) { boom() },
		TokenWait:     func(context.Context, bitrix24.WaitInfo) { boom() },
		TokenRefresh:  func(context.Context, bitrix24.RefreshInfo) { boom() },
		Retry:         func(context.Context, bitrix24.RetryInfo) { boom() },
		BatchFormed:   func(context.Context, bitrix24.BatchInfo) { boom() },
		Operating:     func(context.Context, bitrix24.OperatingInfo) { boom() },
	}
}

func TestAttackPanickingObserverOnEveryPath(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, []bitrix24test.Option{bitrix24test.WithScope("crm,user")}, bitrix24.WithAutoBatch(5*time.Millisecond),
		bitrix24.WithObserver(panicky()), bitrix24.WithObserver(panicky()), bitrix24.WithRateLimit(100, 100))
	srv.SetMethodCost("user.option.get", 200*time.Millisecond)
	srv.ExpireAccessToken()
	// A retry on the batcher's goroutine and on a caller's.
	srv.InjectFault("batch", 1, bitrix24test.Fault{Status: 503, Body: `{"error":"INTERNAL_SERVER_ERROR","error_description":"x"}`})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.Call(context.Background(), "user.option.get", map[string]string{"option": "k" + string(rune('a'+i))}, nil)
		}()
	}
	wg.Wait()
	_, err := c.Batch(context.Background(), false, bitrix24.BatchCommand{Key: "a", Method: "user.option.get"})
	errs <- err
	for _, err := range c.Scan(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2}, bitrix24.WithPagesPerRequest(3)) {
		errs <- err
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Positive(t, c.Operating("user.option.get").Used)
}

func TestAttackAutoBatchedErrorNamesTheBatchRequest(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil, bitrix24.WithAutoBatch(time.Millisecond))
	ctx := bitrix24.WithRequestID(context.Background(), "caller-id")
	err := c.Call(ctx, "nosuch.thing.get", map[string]string{"id": "1"}, nil)
	var apiErr *bitrix24.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	last, ok := srv.LastRequest("batch")
	require.True(t, ok)
	assert.Equal(t, last.Header.Get("X-Request-ID"), apiErr.RequestID, "the id the server saw")
	assert.Equal(t, "nosuch.thing.get", apiErr.Method)
}

func TestAttackAuthConnectorNotValidUTF8RefusedBeforeSending(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil, bitrix24.WithAutoBatch(time.Millisecond))
	// JSON would carry U+FFFD instead: the portal would store another connector than
	// the binding's, and the tool would read back its own changes.
	for _, id := range []string{"tool\xff", "\xc3", "a\xed\xa0\x80"} {
		err := c.Call(context.Background(), "user.option.set", map[string]any{"options": map[string]string{"k": "v"}}, nil, bitrix24.WithAuthConnector(id))
		require.ErrorIs(t, err, bitrix24.ErrValidation, "%q", id)
	}
	assert.Empty(t, srv.RequestLog())
}

// event.offline.get deletes what it returns (clear defaults to 1) or reserves it
// (clear=0 without process_id): after an answer that may come from a call that ran, it
// is not sent again, alone or in an automatic batch.
func TestAttackOfflineGetIsNotRepeatedAfterAnAmbiguousFailure(t *testing.T) {
	t.Parallel()
	for _, params := range []any{nil, map[string]string{"clear": "0"}, map[string]any{"clear": 1, "limit": 10}} {
		for _, auto := range []bool{false, true} {
			var opts []bitrix24.Option
			if auto {
				opts = append(opts, bitrix24.WithAutoBatch(time.Millisecond))
			}
			c, srv := newPortal(t, []bitrix24test.Option{bitrix24test.WithScope("crm,user")}, opts...)
			srv.InjectFault("*", 1, bitrix24test.Fault{Status: 503, Body: `{"error":"INTERNAL_SERVER_ERROR","error_description":"x"}`})
			err := c.Call(context.Background(), "event.offline.get", params, nil)
			require.Error(t, err, "%v auto %v", params, auto)
			assert.Len(t, srv.RequestLog(), 1, "%v auto %v: sent once", params, auto)
		}
	}
}

// The offline reader reads a page reserved earlier again by its process_id: that read
// is safe to repeat, and is retried after a 5xx.
func TestAttackOfflineReaderRetriesTheReadOfAReservedPage(t *testing.T) {
	t.Parallel()
	srv := newEventPortal(t)
	app, user := srv.NewClient(bitrix24.WithRetry(3, 0, 0)), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	for range 3 {
		addDeal(t, user, "deal")
	}
	// A crashed reader's reservation.
	require.NoError(t, app.Call(context.Background(), "event.offline.get", map[string]string{"clear": "0"}, nil))
	srv.InjectFault("event.offline.get", 1, bitrix24test.Fault{Status: 503, Body: `{"error":"INTERNAL_SERVER_ERROR","error_description":"x"}`})
	assert.Len(t, drain(t, app), 3)
	assert.Equal(t, 1, srv.FaultsApplied())
}

// A RoundTripper (httpmock, a proxy's) reads the header as net/http does: by its
// canonical key.
func TestAttackRequestIDReadableByARoundTripper(t *testing.T) {
	t.Parallel()
	var got []string
	rt := rtFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.Header.Get("X-Request-ID"))
		body := `{"result":true}`
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
	})
	c, err := bitrix24.NewWebhookClient(testWebhook, bitrix24.WithHTTPClient(&http.Client{Transport: rt}), bitrix24.WithRateLimit(0, 0))
	require.NoError(t, err)
	require.NoError(t, c.Call(bitrix24.WithRequestID(context.Background(), "rt-1"), "server.time", nil, nil))
	assert.Equal(t, []string{"rt-1"}, got)
}
