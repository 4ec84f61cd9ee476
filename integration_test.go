package bitrix24_test

// Integration tests: the client against bitrix24test over real HTTPS on loopback.

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// newPortal starts a fake portal with no rate limit (unless opts set one) and an OAuth
// client for its installed application.
func newPortal(t testing.TB, srvOpts []bitrix24test.Option, opts ...bitrix24.Option) (*bitrix24.Client, *bitrix24test.Server) {
	t.Helper()
	srv := bitrix24test.NewServer(append([]bitrix24test.Option{bitrix24test.WithRateLimit(0, 0)}, srvOpts...)...)
	t.Cleanup(srv.Close)
	c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), append([]bitrix24.Option{bitrix24.WithHTTPClient(srv.Client()),
		bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(3, 0, 0)}, opts...)...)
	require.NoError(t, err)
	return c, srv
}

func TestIntegrationUserOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil)

	all, err := c.UserOption.GetAll(ctx)
	require.NoError(t, err)
	assert.Empty(t, all, "nothing stored: the server answers []")

	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"theme": "dark", "size": 12, "flags": map[string]bool{"beta": true}}))
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"theme": "light"}), "upsert keeps the other keys")

	var theme string
	found, err := c.UserOption.Get(ctx, "theme", &theme)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "light", theme)
	var flags map[string]bool
	found, err = c.UserOption.Get(ctx, "flags", &flags)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, map[string]bool{"beta": true}, flags)
	found, err = c.UserOption.Get(ctx, "missing", &theme)
	require.NoError(t, err)
	assert.False(t, found)

	all, err = c.UserOption.GetAll(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]json.RawMessage{"theme": json.RawMessage(`"light"`), "size": json.RawMessage(`12`),
		"flags": json.RawMessage(`{"beta":true}`)}, all)

	last, ok := srv.LastRequest("user.option.set")
	require.True(t, ok)
	assert.Equal(t, "oauth", last.AuthType)
}

func TestIntegrationUserOptionsArePerApplication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil)
	other, err := bitrix24.NewOAuthClient(srv.InstallApp(bitrix24test.DefaultScope), bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"k": "first app"}))
	found, err := other.UserOption.Get(ctx, "k", nil)
	require.NoError(t, err)
	assert.False(t, found)
}

func TestIntegrationUserFieldTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil)

	for i := 0; i < 120; i++ {
		require.NoError(t, c.UserFieldType.Add(ctx, bitrix24.UserFieldType{
			UserTypeID: fmt.Sprintf("type%03d", i), Handler: fmt.Sprintf("https://app.example.com/uf/%d", i), Title: fmt.Sprintf("Type %d", i),
		}))
	}
	types, err := c.UserFieldType.List(ctx)
	require.NoError(t, err)
	require.Len(t, types, 120)
	assert.Equal(t, "type119", types[119].UserTypeID)
	assert.Equal(t, 3, srv.Requests("userfieldtype.list"), "three pages of 50")

	dup := bitrix24.UserFieldType{UserTypeID: "type000", Handler: "https://app.example.com/other", Title: "Dup"}
	require.ErrorIs(t, c.UserFieldType.Add(ctx, dup), bitrix24.ErrCore, "ids are unique on the portal")
	other, err := bitrix24.NewOAuthClient(srv.InstallApp(bitrix24test.DefaultScope), bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	require.ErrorIs(t, other.UserFieldType.Add(ctx, dup), bitrix24.ErrCore, "even across applications")

	upd := bitrix24.UserFieldType{UserTypeID: "type001", Handler: "https://app.example.com/v2", Title: "Renamed", Description: "new", Height: 90}
	require.NoError(t, c.UserFieldType.Update(ctx, upd))
	require.NoError(t, c.UserFieldType.Delete(ctx, "type000"))
	types, err = c.UserFieldType.List(ctx)
	require.NoError(t, err)
	require.Len(t, types, 119)
	assert.Equal(t, bitrix24.UserFieldType{UserTypeID: "type001", Handler: "https://app.example.com/v2", Title: "Renamed", Description: "new"}, types[0])

	require.ErrorIs(t, c.UserFieldType.Delete(ctx, "type000"), bitrix24.ErrNotFound)
	require.ErrorIs(t, c.UserFieldType.Update(ctx, dup), bitrix24.ErrNotFound)
	require.ErrorIs(t, other.UserFieldType.Delete(ctx, "type002"), bitrix24.ErrNotFound, "only the owner application sees a type")

	err = c.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: "nodot", Handler: "https://localhost/uf", Title: "x"})
	require.ErrorIs(t, err, bitrix24.ErrValidation, "the server wants a dot in the handler's host: refused before sending")
}

func TestIntegrationWebhookIsRefusedForAppMethods(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := bitrix24test.NewServer()
	t.Cleanup(srv.Close)
	c, err := bitrix24.NewWebhookClient(srv.WebhookURL(), bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)

	err = c.UserOption.Set(ctx, map[string]any{"a": 1})
	require.ErrorIs(t, err, bitrix24.ErrAccessDenied)
	assert.Contains(t, err.Error(), "installed application")
	_, err = c.UserOption.GetAll(ctx)
	require.ErrorIs(t, err, bitrix24.ErrAccessDenied)
	_, err = c.UserFieldType.List(ctx)
	require.ErrorIs(t, err, bitrix24.ErrWrongAuthType)
	err = c.Call(ctx, "no.such.method", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrMethodNotFound)
	var now string
	require.NoError(t, c.Call(ctx, "server.time", nil, &now))
	assert.NotEmpty(t, now)
	last, ok := srv.LastRequest("server.time")
	require.True(t, ok)
	assert.Equal(t, "webhook", last.AuthType)
}

func TestIntegrationSystemErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil)

	srv.SetAppBlocked(true)
	require.ErrorIs(t, c.Call(ctx, "server.time", nil, nil), bitrix24.ErrOverloadLimit)
	srv.SetAppBlocked(false)

	srv.SetPortalDeleted(true)
	require.ErrorIs(t, c.Call(ctx, "server.time", nil, nil), bitrix24.ErrPortalDeleted)
	srv.SetPortalDeleted(false)

	noScope, err := bitrix24.NewOAuthClient(srv.InstallApp("user"), bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	_, err = noScope.UserFieldType.List(ctx)
	require.ErrorIs(t, err, bitrix24.ErrInsufficientScope)

	srv.AddUser(7, false)
	user7, err := bitrix24.NewOAuthClient(srv.OAuthConfigForUser(7), bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	_, err = user7.UserFieldType.List(ctx)
	require.ErrorIs(t, err, bitrix24.ErrAccessDenied, "userfieldtype.* needs an administrator")

	bad := srv.OAuthConfig()
	bad.Token.AccessToken = "unknowntoken000"
	badClient, err := bitrix24.NewOAuthClient(bad, bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	require.ErrorIs(t, badClient.Call(ctx, "server.time", nil, nil), bitrix24.ErrInvalidToken)
}

func TestIntegrationRefreshOnExpiredToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0))
	t.Cleanup(srv.Close)
	cfg := srv.OAuthConfig()
	cfg.Token.Expiry = cfg.Token.Expiry.AddDate(1, 0, 0) // the client trusts the server's word: expired_token
	var hookCalls atomic.Int32
	var stored bitrix24.Token
	cfg.OnTokenRefresh = func(_ context.Context, tok bitrix24.Token) error {
		hookCalls.Add(1)
		stored = tok
		return nil
	}
	c, err := bitrix24.NewOAuthClient(cfg, bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithRateLimit(0, 0))
	require.NoError(t, err)
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"k": "v"}))

	srv.ExpireAccessToken()
	const callers = 100
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v string
			_, err := c.UserOption.Get(ctx, "k", &v)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, srv.Refreshes(), "100 callers on an expired token share one refresh")
	assert.Equal(t, int32(1), hookCalls.Load())
	assert.Equal(t, srv.Token().AccessToken, stored.AccessToken)
	assert.Equal(t, srv.Token().RefreshToken, c.Token().RefreshToken)
}

func TestIntegrationRefreshWithSpentToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0))
	t.Cleanup(srv.Close)
	cfg := srv.OAuthConfig()
	first, err := bitrix24.NewOAuthClient(cfg, bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	second, err := bitrix24.NewOAuthClient(cfg, bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)

	srv.ExpireAccessToken()
	require.NoError(t, first.Call(ctx, "server.time", nil, nil), "the first refresh rotates the pair")
	err = second.Call(ctx, "server.time", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrInvalidGrant, "the second holder's refresh token is spent")
	requireNoSecret(t, err.Error())

	wrong := srv.OAuthConfig()
	wrong.ClientSecret = "wrongsecret0000"
	third, err := bitrix24.NewOAuthClient(wrong, bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	srv.ExpireAccessToken()
	require.ErrorIs(t, third.Call(ctx, "server.time", nil, nil), bitrix24.ErrInvalidClient)
}

func TestIntegrationOperationTimeLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil, bitrix24.WithOperatingBudget(0)) // the server's 429 itself
	srv.SetMethodCost("userfieldtype.list", 300*time.Second)
	_, err := c.UserFieldType.List(ctx)
	require.NoError(t, err)
	_, err = c.UserFieldType.List(ctx)
	require.NoError(t, err, "the call that crosses the limit still runs")
	resetAt := c.OperatingResetAt("userfieldtype.list")
	require.False(t, resetAt.IsZero(), "operating_reset_at was reported")

	_, err = c.UserFieldType.List(ctx)
	require.ErrorIs(t, err, bitrix24.ErrOperationTimeLimit)
	var apiErr *bitrix24.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 429, apiErr.StatusCode)
	assert.Equal(t, resetAt, apiErr.ResetAt)
	assert.Contains(t, err.Error(), "blocked until")
	assert.Equal(t, 3, srv.Requests("userfieldtype.list"), "not retried")
	require.NoError(t, c.Call(ctx, "server.time", nil, nil), "other methods are unaffected")
}

func TestIntegrationWebhookOverPlainHTTP(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.NewServer(bitrix24test.WithPlainHTTP())
	t.Cleanup(srv.Close)
	_, err := bitrix24.NewWebhookClient(srv.WebhookURL())
	require.ErrorIs(t, err, bitrix24.ErrValidation, "http:// needs WithAllowHTTP")
	c, err := bitrix24.NewWebhookClient(srv.WebhookURL(), bitrix24.WithAllowHTTP(), bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	err = c.Call(context.Background(), "server.time", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrHTTPSRequired)
	requireNoSecret(t, err.Error())
}
