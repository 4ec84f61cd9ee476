package bitrix24_test

// Per-call options against the fake portal: WithResponse fills (and only fills) the
// metadata of a successful answer; WithIdempotent makes any method retryable like a read.

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// addTypes registers n user-field types, enough for userfieldtype.list to page.
func addTypes(t *testing.T, c *bitrix24.Client, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		require.NoError(t, c.UserFieldType.Add(ctx, bitrix24.UserFieldType{
			UserTypeID: fmt.Sprintf("t%03d", i), Handler: fmt.Sprintf("https://app.example.test/uf/%d", i), Title: "type"}))
	}
}

func TestWithResponseOverwritesEveryField(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := newPortal(t, nil)
	addTypes(t, c, 51)

	stale := time.Unix(1, 0)
	resp := bitrix24.Response{StatusCode: 999, Total: -1, Next: -1, HasNext: false,
		Time: bitrix24.CallTime{Start: stale, Finish: stale, Duration: time.Hour, Processing: time.Hour,
			Operating: time.Hour, OperatingResetAt: stale}}
	var page []map[string]any
	require.NoError(t, c.Call(ctx, "userfieldtype.list", nil, &page, bitrix24.WithResponse(&resp)))
	assert.Len(t, page, 50)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 51, resp.Total)
	assert.True(t, resp.HasNext)
	assert.Equal(t, 50, resp.Next)
	assert.True(t, resp.Time.Start.After(stale), "time.start of this answer")
	assert.False(t, resp.Time.Finish.Before(resp.Time.Start))
	assert.Less(t, resp.Time.Duration, time.Hour)

	// The same Response reused for an answer with no total, no next, no operating
	// reset: nothing of the first answer survives.
	require.NoError(t, c.Call(ctx, "user.option.get", nil, nil, bitrix24.WithResponse(&resp)))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Zero(t, resp.Total)
	assert.Zero(t, resp.Next)
	assert.False(t, resp.HasNext)
	assert.True(t, resp.Time.OperatingResetAt.IsZero() || resp.Time.OperatingResetAt.After(stale))
	assert.Less(t, resp.Time.Operating, time.Hour)
}

func TestWithResponseNextZeroIsPresent(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	mt.RegisterResponder("POST", testWebhook+"crm.deal.list",
		jsonResponder(200, `{"result":[],"total":7,"next":0,"time":{"start":1724423274.5,"finish":1724423275}}`))
	var resp bitrix24.Response
	require.NoError(t, c.Call(context.Background(), "crm.deal.list", nil, nil, bitrix24.WithResponse(&resp)))
	assert.Equal(t, bitrix24.Response{StatusCode: 200, Total: 7, Next: 0, HasNext: true, Time: resp.Time}, resp)
	assert.Equal(t, 500*time.Millisecond, resp.Time.Finish.Sub(resp.Time.Start))
}

func TestWithResponseUntouchedOnFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil)
	want := bitrix24.Response{StatusCode: 1, Total: 2, Next: 3, HasNext: true}
	resp := want

	err := c.Call(ctx, "user.option.set", map[string]any{}, nil, bitrix24.WithResponse(&resp))
	require.ErrorIs(t, err, bitrix24.ErrArgument)
	assert.Equal(t, want, resp, "an error answer")

	srv.InjectFault("user.option.get", 1, bitrix24test.FaultHTML(http.StatusBadGateway))
	c2, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()),
		bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(0, 0, 0))
	require.NoError(t, err)
	err = c2.Call(ctx, "user.option.get", nil, nil, bitrix24.WithResponse(&resp))
	require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse)
	assert.Equal(t, want, resp, "an unreadable answer")

	err = c.Call(ctx, "user.option.get", nil, func() {}, bitrix24.WithResponse(&resp))
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	assert.Equal(t, want, resp, "refused before sending")
}

// A method that is not idempotent by name (userfieldtype.add) is retried after an
// ambiguous failure only when the caller says it may be.
func TestWithIdempotentRetriesAmbiguousFailures(t *testing.T) {
	t.Parallel()
	faults := map[string]bitrix24test.Fault{
		"502 HTML":                  bitrix24test.FaultHTML(http.StatusBadGateway),
		"500 INTERNAL_SERVER_ERROR": bitrix24test.FaultError(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "Internal server error"),
		"truncated JSON":            bitrix24test.FaultTruncatedJSON(),
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c, srv := newPortal(t, nil)
			typ := bitrix24.UserFieldType{UserTypeID: "a", Handler: "https://app.example.test/uf", Title: "a"}

			srv.InjectFault("userfieldtype.add", 1, fault)
			require.Error(t, c.Call(ctx, "userfieldtype.add", map[string]any{"USER_TYPE_ID": "a",
				"HANDLER": typ.Handler, "TITLE": "a"}, nil), "not retried without WithIdempotent")
			assert.Equal(t, 1, srv.Requests("userfieldtype.add"))

			srv.InjectFault("userfieldtype.add", 1, fault)
			require.NoError(t, c.Call(ctx, "userfieldtype.add", map[string]any{"USER_TYPE_ID": "a",
				"HANDLER": typ.Handler, "TITLE": "a"}, nil, bitrix24.WithIdempotent()))
			assert.Equal(t, 3, srv.Requests("userfieldtype.add"), "one retry")
			assert.Equal(t, 1, srv.Calls("userfieldtype.add"))
		})
	}
}

func TestWithIdempotentDoesNotRetryAnswersThatWouldRepeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil)

	err := c.Call(ctx, "userfieldtype.add", map[string]any{"HANDLER": "https://app.example.test/uf"}, nil, bitrix24.WithIdempotent())
	require.ErrorIs(t, err, bitrix24.ErrArgument)
	assert.Equal(t, 1, srv.Requests("userfieldtype.add"))

	srv.InjectFault("user.option.set", 1, bitrix24test.FaultError(http.StatusUnauthorized, "invalid_token", "The access token provided is invalid"))
	err = c.Call(ctx, "user.option.set", map[string]any{"k": "v"}, nil, bitrix24.WithIdempotent())
	require.ErrorIs(t, err, bitrix24.ErrInvalidToken)
	assert.Equal(t, 1, srv.Requests("user.option.set"))
}
