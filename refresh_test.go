package bitrix24_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// Item 7: a panic in OnTokenRefresh is returned to the caller as an error; the process
// lives on and the new pair is kept.
func TestOnTokenRefreshPanicBecomesError(t *testing.T) {
	t.Parallel()
	cfg := testOAuthConfig()
	cfg.OnTokenRefresh = func(context.Context, bitrix24.Token) error { panic("boom " + testNewRefresh) }
	c, mt := newOAuthClient(t, cfg, bitrix24.WithRetry(0, 0, 0))
	registerRefresh(mt)
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time", expiredOnce())
	err := c.Call(context.Background(), "server.time", nil, nil)
	require.ErrorContains(t, err, "panic")
	requireCleanChain(t, err, testNewRefresh)
	assert.Equal(t, testNewAccess, c.Token().AccessToken)
	require.NoError(t, c.Call(context.Background(), "server.time", nil, nil), "the client keeps working")
}

// Item 8: OnTokenRefresh may call the client: the call uses the new pair instead of
// joining the refresh that runs the callback.
func TestOnTokenRefreshMayCallTheClient(t *testing.T) {
	t.Parallel()
	var c *bitrix24.Client
	var inner error
	cfg := testOAuthConfig()
	cfg.OnTokenRefresh = func(ctx context.Context, _ bitrix24.Token) error {
		inner = c.Call(ctx, "server.time", nil, nil)
		return nil
	}
	c, mt := newOAuthClient(t, cfg, bitrix24.WithRetry(0, 0, 0))
	registerRefresh(mt)
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time", expiredOnce())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.Call(ctx, "server.time", nil, nil))
	require.NoError(t, inner)
}

// Item 9: with WithTimeout(0), a token endpoint that never answers still cannot block
// the client for ever: the refresh has its own deadline.
func TestRefreshHasItsOwnDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mt := httpmock.NewMockTransport()
		mt.RegisterResponder(http.MethodPost, testTokenURL, func(req *http.Request) (*http.Response, error) {
			<-req.Context().Done() // never answers
			return nil, req.Context().Err()
		})
		mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time", expiredOnce())
		c, err := bitrix24.NewOAuthClient(testOAuthConfig(), bitrix24.WithHTTPClient(&http.Client{Transport: mt}),
			bitrix24.WithTimeout(0), bitrix24.WithRetry(0, 0, 0), bitrix24.WithRateLimit(0, 0))
		require.NoError(t, err)
		start := time.Now()
		err = c.Call(context.Background(), "server.time", nil, nil) // no deadline of the caller's
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, bitrix24.DefaultRefreshTimeout, time.Since(start))
	})
}

// Item 10: a proactive refresh that fails does not fail a call while the token is still
// valid; the refresh is tried again later.
func TestFailedProactiveRefreshUsesTheValidToken(t *testing.T) {
	t.Parallel()
	cfg := testOAuthConfig()
	cfg.Token.Expiry = time.Now().Add(10 * time.Second) // inside the early-refresh window
	c, mt := newOAuthClient(t, cfg, bitrix24.WithRetry(1, time.Millisecond, time.Millisecond))
	var refreshes atomic.Int64
	mt.RegisterResponder(http.MethodPost, testTokenURL, func(req *http.Request) (*http.Response, error) {
		refreshes.Add(1)
		return httpmock.NewStringResponse(502, "<html>Bad Gateway</html>"), nil
	})
	var sent atomic.Value
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/user.option.get", func(req *http.Request) (*http.Response, error) {
		var body map[string]any
		_ = jsonDecode(req, &body)
		sent.Store(body["auth"])
		return jsonResponder(200, `{"result":"dark"}`)(req)
	})
	var v string
	found, err := c.UserOption.Get(context.Background(), "theme", &v)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, testAccess, sent.Load(), "the still-valid token went out")
	assert.EqualValues(t, 1, refreshes.Load())
	// Right after the failure, calls do not hammer the token endpoint.
	_, err = c.UserOption.Get(context.Background(), "theme", &v)
	require.NoError(t, err)
	assert.EqualValues(t, 1, refreshes.Load())
}

// Item 11: a pair without a refresh token cannot be refreshed: expired_token fails with
// ErrExpiredToken and the token endpoint is never contacted.
func TestNoRefreshTokenNoTokenEndpoint(t *testing.T) {
	t.Parallel()
	cfg := testOAuthConfig()
	cfg.Token.RefreshToken = ""
	cfg.Token.Expiry = time.Now().Add(5 * time.Second)
	c, mt := newOAuthClient(t, cfg, bitrix24.WithRetry(0, 0, 0))
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time",
		jsonResponder(401, `{"error":"expired_token","error_description":"The access token provided has expired."}`))
	err := c.Call(context.Background(), "server.time", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrExpiredToken)
	assert.Zero(t, mt.GetCallCountInfo()["POST "+testTokenURL])
}

// A refusal that no retry can fix is remembered: later calls fail fast.
func TestInvalidGrantRemembered(t *testing.T) {
	t.Parallel()
	c, mt := newOAuthClient(t, testOAuthConfig(), bitrix24.WithRetry(0, 0, 0))
	mt.RegisterResponder(http.MethodPost, testTokenURL,
		jsonResponder(400, `{"error":"invalid_grant","error_description":"Invalid grant"}`))
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time", expiredOnce())
	for range 3 {
		err := c.Call(context.Background(), "server.time", nil, nil)
		require.ErrorIs(t, err, bitrix24.ErrInvalidGrant)
		require.False(t, errors.Is(err, bitrix24.ErrHTTPSRequired))
	}
	assert.Equal(t, 1, mt.GetCallCountInfo()["POST "+testTokenURL])
}
