package bitrix24_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

func TestAuthorizeURL(t *testing.T) {
	app := &bitrix24.App{ClientID: "local.abc.123", ClientSecret: "s3cretS3cret"}
	got, err := app.AuthorizeURL("https://acme.bitrix24.com/", "st&te")
	require.NoError(t, err)
	u, err := url.Parse(got)
	require.NoError(t, err)
	assert.Equal(t, "https", u.Scheme)
	assert.Equal(t, "acme.bitrix24.com", u.Host)
	assert.Equal(t, "/oauth/authorize/", u.Path)
	assert.Equal(t, url.Values{"client_id": {"local.abc.123"}, "state": {"st&te"}}, u.Query())
	assert.NotContains(t, got, "s3cretS3cret")

	for _, bad := range []string{"", "acme.bitrix24.com", "http://acme.bitrix24.com", "https://user:pw@acme.test", "::"} {
		_, err := app.AuthorizeURL(bad, "s")
		require.ErrorIs(t, err, bitrix24.ErrValidation, bad)
	}
	_, err = (&bitrix24.App{}).AuthorizeURL("https://acme.bitrix24.com", "s")
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	withHTTP := &bitrix24.App{ClientID: "c", Options: []bitrix24.Option{bitrix24.WithAllowHTTP()}}
	_, err = withHTTP.AuthorizeURL("http://localhost:8080", "")
	require.NoError(t, err)
}

func TestExchangeSavesThePair(t *testing.T) {
	app, srv := newAppPortal(t)
	ctx := context.Background()
	authURL, err := app.AuthorizeURL(srv.URL, "xyz")
	require.NoError(t, err)
	redirect, err := srv.Authorize(authURL, 1)
	require.NoError(t, err)
	assert.Equal(t, "xyz", redirect.Get("state"))
	assert.Equal(t, srv.MemberID(), redirect.Get("member_id"))

	tok, err := app.Exchange(ctx, redirect.Get("code"))
	require.NoError(t, err)
	assert.NotEmpty(t, tok.AccessToken)
	assert.NotEmpty(t, tok.RefreshToken)
	assert.Equal(t, srv.MemberID(), tok.MemberID)
	assert.Equal(t, srv.RESTURL(), tok.ClientEndpoint)
	assert.False(t, tok.Expiry.IsZero(), "expires_in gives the expiry")
	assert.Equal(t, 1, srv.Exchanges())

	// A form POST: no secret in the URL.
	last, ok := srv.LastRequest("oauth/token")
	require.True(t, ok)
	assert.Equal(t, http.MethodPost, last.HTTPMethod)
	assert.Equal(t, "authorization_code", last.Params["grant_type"])

	assert.Equal(t, 1, tok.UserID, "the user comes from app.info when the answer names none")
	stored, err := app.Store.Load(ctx, bitrix24.TokenKey{MemberID: tok.MemberID, UserID: tok.UserID})
	require.NoError(t, err)
	assert.Equal(t, tok, stored)
	_, err = app.Store.Load(ctx, bitrix24.TokenKey{MemberID: tok.MemberID})
	require.ErrorIs(t, err, bitrix24.ErrTokenNotFound, "a user's pair does not replace the installation's")

	// The stored pair makes a working client.
	c, err := app.Client(ctx, bitrix24.TokenKey{MemberID: tok.MemberID, UserID: 1})
	require.NoError(t, err)
	require.NoError(t, c.Call(ctx, "server.time", nil, nil))
}

func TestExchangeRefusals(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	app, srv := newAppPortal(t, bitrix24test.WithClock(clock))
	ctx := context.Background()

	code := srv.AuthorizationCode(1)
	_, err := app.Exchange(ctx, code)
	require.NoError(t, err)
	_, err = app.Exchange(ctx, code)
	require.ErrorIs(t, err, bitrix24.ErrInvalidGrant, "a code works once")
	assertNoSecret(t, err.Error(), code, app.ClientSecret)

	late := srv.AuthorizationCode(1)
	mu.Lock()
	now = now.Add(31 * time.Second)
	mu.Unlock()
	_, err = app.Exchange(ctx, late)
	require.ErrorIs(t, err, bitrix24.ErrExpiredToken, "a code lives 30 s")
	var apiErr *bitrix24.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "oauth/token", apiErr.Method)

	wrong := *app
	wrong.ClientSecret = "wr0ngS3cretValue"
	code = srv.AuthorizationCode(1)
	_, err = wrong.Exchange(ctx, code)
	require.ErrorIs(t, err, bitrix24.ErrInvalidClient)
	assertNoSecret(t, fmt.Sprintf("%v %+v", err, err), code, "wr0ngS3cretValue")

	_, err = app.Exchange(ctx, "  ")
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	_, err = (&bitrix24.App{ClientID: "x"}).Exchange(ctx, "c0de")
	require.ErrorIs(t, err, bitrix24.ErrValidation, "no secret")
	bad := *app
	bad.TokenURL = "https://oauth.example.test/token?client_secret=x"
	_, err = bad.Exchange(ctx, "c0de")
	require.ErrorIs(t, err, bitrix24.ErrValidation, "a token URL with a query")
}

func TestExchangeUnreachableServerLeaksNothing(t *testing.T) {
	app, srv := newAppPortal(t)
	code := srv.AuthorizationCode(1)
	srv.Close()
	_, err := app.Exchange(context.Background(), code)
	require.Error(t, err)
	assert.NotErrorIs(t, err, bitrix24.ErrValidation)
	assertNoSecret(t, err.Error(), code, app.ClientSecret)
}

func TestExchangeNotATokenAnswer(t *testing.T) {
	app, srv := newAppPortal(t)
	srv.InjectFault("oauth/token", 1, bitrix24test.FaultHTML(502))
	code := srv.AuthorizationCode(1)
	_, err := app.Exchange(context.Background(), code)
	require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse)
	assertNoSecret(t, err.Error(), code, app.ClientSecret)
}

func TestAppClientSavesRotations(t *testing.T) {
	app, srv := newAppPortal(t)
	ctx := context.Background()
	cfg := srv.OAuthConfig()
	key := bitrix24.TokenKey{MemberID: srv.MemberID()}
	require.NoError(t, app.Store.Save(ctx, key, cfg.Token))

	c, err := app.Client(ctx, key)
	require.NoError(t, err)
	require.True(t, srv.ExpireToken(cfg.Token.AccessToken))
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"k": "v"}))
	assert.Equal(t, 1, srv.Refreshes())

	stored, err := app.Store.Load(ctx, key)
	require.NoError(t, err)
	assert.NotEqual(t, cfg.Token.RefreshToken, stored.RefreshToken, "the rotated pair is in the store")
	assert.Equal(t, c.Token().RefreshToken, stored.RefreshToken)

	// A second client from the store works with the rotated pair.
	c2, err := app.Client(ctx, key)
	require.NoError(t, err)
	require.NoError(t, c2.Call(ctx, "server.time", nil, nil))
}

func TestAppClientRefusals(t *testing.T) {
	app, srv := newAppPortal(t)
	ctx := context.Background()
	_, err := app.Client(ctx, bitrix24.TokenKey{MemberID: srv.MemberID()})
	require.ErrorIs(t, err, bitrix24.ErrTokenNotFound)
	_, err = app.Client(ctx, bitrix24.TokenKey{})
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	var nilCtx context.Context // a nil ctx must be refused, not panic
	_, err = app.Client(nilCtx, bitrix24.TokenKey{MemberID: "m"})
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	var nilApp *bitrix24.App
	_, err = nilApp.Client(ctx, bitrix24.TokenKey{MemberID: "m"})
	require.ErrorIs(t, err, bitrix24.ErrValidation)

	// A nil Store means an in-memory one.
	mem := &bitrix24.App{ClientID: app.ClientID, ClientSecret: app.ClientSecret}
	_, err = mem.Client(ctx, bitrix24.TokenKey{MemberID: "m"})
	require.ErrorIs(t, err, bitrix24.ErrTokenNotFound)
}

// pageRequest parses the fake portal's app page POST for user.
func pageRequest(t *testing.T, srv *bitrix24test.Server, o bitrix24test.PageOptions) *bitrix24.AppRequest {
	t.Helper()
	req, err := srv.AppPageRequest(context.Background(), "https://app.example.test/page", o)
	require.NoError(t, err)
	r, err := bitrix24.ParseAppRequest(req)
	require.NoError(t, err)
	return r
}

func TestVerify(t *testing.T) {
	app, srv := newAppPortal(t)
	ctx := context.Background()
	r := pageRequest(t, srv, bitrix24test.PageOptions{UserID: 3})
	require.NoError(t, app.Verify(ctx, r))

	last, ok := srv.LastRequest("oauth/app.info")
	require.True(t, ok)
	assert.Equal(t, http.MethodPost, last.HTTPMethod, "the token travels in a form body")
	assert.NotContains(t, last.Path, r.Token.AccessToken)
}

func TestVerifyRefusals(t *testing.T) {
	app, srv := newAppPortal(t)
	ctx := context.Background()
	good := pageRequest(t, srv, bitrix24test.PageOptions{})

	forged := *good
	forged.Token.AccessToken = "f0rgedT0kenValue"
	err := app.Verify(ctx, &forged)
	require.ErrorIs(t, err, bitrix24.ErrNotVerified)
	require.ErrorIs(t, err, bitrix24.ErrInvalidToken)
	assertNoSecret(t, err.Error(), "f0rgedT0kenValue", app.ClientSecret)

	otherMember := *good
	otherMember.Token.MemberID = "0ther"
	require.ErrorIs(t, app.Verify(ctx, &otherMember), bitrix24.ErrNotVerified)

	otherDomain := *good
	otherDomain.Domain = "evil.example.test"
	require.ErrorIs(t, app.Verify(ctx, &otherDomain), bitrix24.ErrNotVerified)

	// A genuine token of another application installed on the same portal.
	otherCfg := srv.InstallApp("placement,user")
	otherApp := *good
	otherApp.Token.AccessToken = otherCfg.Token.AccessToken
	err = app.Verify(ctx, &otherApp)
	require.ErrorIs(t, err, bitrix24.ErrNotVerified)
	assert.NotErrorIs(t, err, bitrix24.ErrInvalidToken)

	noToken := pageRequest(t, srv, bitrix24test.PageOptions{NoAccess: true})
	require.ErrorIs(t, app.Verify(ctx, noToken), bitrix24.ErrNotVerified)

	require.ErrorIs(t, app.Verify(ctx, nil), bitrix24.ErrValidation)
	noMember := *good
	noMember.Token.MemberID = ""
	require.ErrorIs(t, app.Verify(ctx, &noMember), bitrix24.ErrValidation)

	// A ServerEndpoint that is not the authorization server (the portal's own /rest/).
	// (An older portal's request names no server: the App's is asked.)
	portalAsServer := *app
	portalAsServer.ServerEndpoint = srv.RESTURL()
	oldPortal := *pageRequest(t, srv, bitrix24test.PageOptions{OldPortal: true})
	err = portalAsServer.Verify(ctx, &oldPortal)
	require.Error(t, err)
	assert.NotErrorIs(t, err, bitrix24.ErrNotVerified)
}

func TestVerifyServerDownIsNotARefusal(t *testing.T) {
	app, srv := newAppPortal(t)
	r := pageRequest(t, srv, bitrix24test.PageOptions{})
	srv.InjectFault("oauth/app.info", 1, bitrix24test.FaultHTML(502))
	err := app.Verify(context.Background(), r)
	require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse)
	assert.NotErrorIs(t, err, bitrix24.ErrNotVerified)
	assertNoSecret(t, err.Error(), r.Token.AccessToken)

	srv.Close()
	err = app.Verify(context.Background(), r)
	require.Error(t, err)
	assert.NotErrorIs(t, err, bitrix24.ErrNotVerified)
	assertNoSecret(t, err.Error(), r.Token.AccessToken)
}

func TestVerifyCachesPositiveAnswersBriefly(t *testing.T) {
	app, srv := newAppPortal(t)
	now := time.Now()
	var mu sync.Mutex
	bitrix24.SetAppClock(app, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ctx := context.Background()
	r := pageRequest(t, srv, bitrix24test.PageOptions{})

	require.NoError(t, app.Verify(ctx, r))
	require.NoError(t, app.Verify(ctx, r))
	assert.Equal(t, 1, srv.Requests("oauth/app.info"), "the second check is answered from the cache")

	// The cache still compares the claims.
	wrong := *r
	wrong.Domain = "evil.example.test"
	require.ErrorIs(t, app.Verify(ctx, &wrong), bitrix24.ErrNotVerified)
	assert.Equal(t, 1, srv.Requests("oauth/app.info"))

	advance(59 * time.Second)
	require.NoError(t, app.Verify(ctx, r))
	assert.Equal(t, 1, srv.Requests("oauth/app.info"))
	advance(2 * time.Second)
	require.NoError(t, app.Verify(ctx, r))
	assert.Equal(t, 2, srv.Requests("oauth/app.info"), "after a minute the server is asked again")

	// Refusals are cached briefly, per token (issue 20, item 10): a forged page POST
	// sent again costs the authorization server nothing.
	forged := *r
	forged.Token.AccessToken = "f0rgedT0kenValue"
	err := app.Verify(ctx, &forged)
	require.ErrorIs(t, err, bitrix24.ErrNotVerified)
	require.ErrorIs(t, err, bitrix24.ErrInvalidToken)
	err = app.Verify(ctx, &forged)
	require.ErrorIs(t, err, bitrix24.ErrNotVerified)
	require.ErrorIs(t, err, bitrix24.ErrInvalidToken)
	assert.Equal(t, 3, srv.Requests("oauth/app.info"), "the refusal is answered from the cache")
	advance(11 * time.Second)
	require.ErrorIs(t, app.Verify(ctx, &forged), bitrix24.ErrNotVerified)
	assert.Equal(t, 4, srv.Requests("oauth/app.info"), "briefly: the server is asked again later")
}

func TestClientForActsAsTheUser(t *testing.T) {
	app, srv := newAppPortal(t)
	ctx := context.Background()
	srv.AddUser(7, false)
	r := pageRequest(t, srv, bitrix24test.PageOptions{UserID: 7, OldPortal: true})

	c, err := app.ClientFor(ctx, r)
	require.NoError(t, err)
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"rating": "4"}))
	assert.Equal(t, "4", srv.UserOptions(app.ClientID, 7)["rating"])
	assert.Empty(t, srv.UserOptions(app.ClientID, 1))

	stored, err := app.Store.Load(ctx, bitrix24.TokenKey{MemberID: srv.MemberID(), UserID: 7})
	require.NoError(t, err)
	assert.Equal(t, r.Token.AccessToken, stored.AccessToken)
	assert.Equal(t, 7, stored.UserID)
	assert.Equal(t, srv.ServerEndpoint(), stored.ServerEndpoint)

	// The user's pair is found again without the request.
	c2, err := app.Client(ctx, bitrix24.TokenKey{MemberID: srv.MemberID(), UserID: 7})
	require.NoError(t, err)
	var got string
	found, err := c2.UserOption.Get(ctx, "rating", &got)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "4", got)

	forged := *r
	forged.Token.AccessToken = "f0rgedT0kenValue"
	_, err = app.ClientFor(ctx, &forged)
	require.ErrorIs(t, err, bitrix24.ErrNotVerified)
	_, err = app.Store.Load(ctx, bitrix24.TokenKey{MemberID: srv.MemberID(), UserID: 1})
	require.ErrorIs(t, err, bitrix24.ErrTokenNotFound, "a refused request stores nothing")
}

func TestAppPrintsNoSecret(t *testing.T) {
	app := bitrix24.App{ClientID: "local.x", ClientSecret: "s3cretS3cret"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		assertNoSecret(t, fmt.Sprintf(f, app)+fmt.Sprintf(f, &app), "s3cretS3cret")
	}
	assert.Contains(t, fmt.Sprint(app), "local.x")
}
