package bitrix24_test

// The application side under attack (issue 20): every test here plays a user of the
// application, who holds a genuine token of it and reads its application_token, or
// replays what the portal sent. docs/security.md names them.

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// installKey is the key of the fake portal's install pair.
func installKey(srv *bitrix24test.Server) bitrix24.TokenKey {
	return bitrix24.TokenKey{MemberID: srv.MemberID()}
}

// callAsInstall makes one call with the stored install pair; it fails the test when the
// portal refuses it.
func callAsInstall(t *testing.T, app *bitrix24.App, srv *bitrix24test.Server) {
	t.Helper()
	c, err := app.Client(context.Background(), installKey(srv))
	require.NoError(t, err)
	var admin bool
	require.NoError(t, c.Call(context.Background(), "user.admin", nil, &admin))
}

// Item 1: a user of the app forges ONAPPUNINSTALL with the application_token its pages
// show. The installation's pair still works, so nothing is forgotten.
func TestForgedUninstallByAUserIsRefused(t *testing.T) {
	ea := newEventApp(t)
	ea.install(t)
	before, appToken, _ := ea.stored(t)

	forged := ea.srv.ForgeEvent("ONAPPUNINSTALL", 5)
	assert.Equal(t, http.StatusForbidden, ea.send(t, forged))
	assert.Equal(t, http.StatusForbidden, ea.send(t, forged), "and again")

	after, stillAppToken, ok := ea.stored(t)
	require.True(t, ok, "nothing is forgotten")
	assert.Equal(t, before, after)
	assert.Equal(t, appToken, stillAppToken)
	assert.Equal(t, []string{"ONAPPINSTALL"}, ea.seen(), "OnEvent does not run for a refused uninstall")
	callAsInstall(t, ea.app, ea.srv)
	assert.Equal(t, http.StatusOK, ea.send(t, ea.srv.EventForm("ONCRMLEADADD")), "later events still pass")
}

// Item 1: checking the stored pair may rotate it (its access token expired); the
// rotated pair is kept.
func TestForgedUninstallKeepsThePairRotatedWhileChecking(t *testing.T) {
	ea := newEventApp(t)
	ea.install(t)
	before, _, _ := ea.stored(t)
	require.True(t, ea.srv.ExpireToken(before.AccessToken))

	assert.Equal(t, http.StatusForbidden, ea.send(t, ea.srv.ForgeEvent("ONAPPUNINSTALL", 5)))
	after, _, ok := ea.stored(t)
	require.True(t, ok)
	assert.NotEqual(t, before.RefreshToken, after.RefreshToken, "the check refreshed the pair")
	callAsInstall(t, ea.app, ea.srv) // the rotated pair is the one stored: it works
	assert.Equal(t, []string{"ONAPPINSTALL"}, ea.seen())
}

// Item 1: when the portal cannot tell, nothing is forgotten either.
func TestUninstallCheckFailureForgetsNothing(t *testing.T) {
	ea := newEventApp(t)
	ea.install(t)
	ea.srv.InjectFault("user.admin", 10, bitrix24test.FaultHTML(502))
	assert.Equal(t, http.StatusServiceUnavailable, ea.send(t, ea.srv.EventForm("ONAPPUNINSTALL")))
	ea.srv.ClearFaults()
	_, _, ok := ea.stored(t)
	assert.True(t, ok)
	assert.Equal(t, []string{"ONAPPINSTALL"}, ea.seen())
}

// Item 1: the genuine uninstall (the portal revokes the tokens first) still forgets the
// portal and runs OnEvent; see also TestEventHandlerUninstallForgetsThePortal.
func TestGenuineUninstallAfterRevocation(t *testing.T) {
	ea := newEventApp(t)
	ea.install(t)
	// The stored pair's access token has expired too: the refresh is refused.
	pair, _, _ := ea.stored(t)
	ea.srv.Uninstall()
	_, err := ea.srv.SendUninstall(context.Background(), nil, ea.url)
	require.NoError(t, err)
	_, _, ok := ea.stored(t)
	assert.False(t, ok)
	assert.Equal(t, []string{"ONAPPINSTALL", "ONAPPUNINSTALL"}, ea.seen())
	assert.False(t, ea.srv.ExpireToken(pair.AccessToken), "the fake revoked the pair")
}

// Item 2: the client endpoint stored with the install pair comes from app.info, not
// from the event, which an administrator's browser can forge with his own pair.
func TestInstallStoresTheClientEndpointOfAppInfo(t *testing.T) {
	ea := newEventApp(t)
	form := ea.srv.EventForm("ONAPPINSTALL")
	form.Set("auth[client_endpoint]", "https://evil.example.test/rest/")
	require.Equal(t, http.StatusOK, ea.send(t, form))
	pair, _, ok := ea.stored(t)
	require.True(t, ok)
	assert.Equal(t, ea.srv.RESTURL(), pair.ClientEndpoint)
	assert.Equal(t, ea.srv.ServerEndpoint(), pair.ServerEndpoint)
}

// Item 2: an event or a page naming an authorization server the App does not trust is
// refused, and nothing is sent there.
func TestUntrustedAuthorizationServerIsRefused(t *testing.T) {
	ea := newEventApp(t)
	evil := "https://evil.example.test/rest/"
	form := ea.srv.EventForm("ONAPPINSTALL")
	form.Set("auth[server_endpoint]", evil)
	assert.Equal(t, http.StatusForbidden, ea.send(t, form))
	_, _, ok := ea.stored(t)
	assert.False(t, ok)

	ea.install(t)
	other := ea.srv.EventForm("ONCRMLEADADD")
	other.Set("auth[server_endpoint]", evil)
	assert.Equal(t, http.StatusForbidden, ea.send(t, other))

	r := pageRequest(t, ea.srv, bitrix24test.PageOptions{UserID: 4})
	r.Token.ServerEndpoint = evil
	_, err := ea.app.ClientFor(context.Background(), r)
	require.ErrorIs(t, err, bitrix24.ErrNotVerified)
	_, err = ea.app.Store.Load(context.Background(), bitrix24.TokenKey{MemberID: ea.srv.MemberID(), UserID: 4})
	require.ErrorIs(t, err, bitrix24.ErrTokenNotFound)
	assert.Equal(t, []string{"ONAPPINSTALL"}, ea.seen())
}

func TestDefaultAuthServers(t *testing.T) {
	assert.Equal(t, []string{"https://oauth.bitrix.info/rest/", "https://oauth.bitrix24.tech/rest/"}, bitrix24.DefaultAuthServers)
}

// Items 2 and 9: a portal whose authorization server is another one (as
// oauth.bitrix24.tech is): its install is verified there, and its pair refreshed at that
// server's own token endpoint, which is stored with the pair.
func TestSecondAuthorizationServer(t *testing.T) {
	app, srv := newAppPortal(t)
	second := srv.AddAuthServer()
	srv.UseAuthServer(second)
	app.AuthServers = []string{second.ServerEndpoint()}
	ea := newEventAppFor(t, app, srv)
	ctx := context.Background()

	ea.install(t)
	pair, _, ok := ea.stored(t)
	require.True(t, ok)
	assert.Equal(t, second.ServerEndpoint(), pair.ServerEndpoint)

	// The access token expires: the pair is refreshed at the second server.
	require.True(t, srv.ExpireToken(pair.AccessToken))
	callAsInstall(t, app, srv)
	rotated, _, _ := ea.stored(t)
	assert.NotEqual(t, pair.RefreshToken, rotated.RefreshToken)
	assert.Equal(t, second.ServerEndpoint(), rotated.ServerEndpoint)

	// A user's page names the second server too.
	c, err := app.ClientFor(ctx, pageRequest(t, srv, bitrix24test.PageOptions{UserID: 6}))
	require.NoError(t, err)
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"k": "v"}))
	assert.Equal(t, "v", srv.UserOptions(app.ClientID, 6)["k"])

	// The App's own server (ServerEndpoint) stays trusted for older portals' pages.
	srv.UseAuthServer(nil)
	_, err = app.ClientFor(ctx, pageRequest(t, srv, bitrix24test.PageOptions{UserID: 7}))
	require.NoError(t, err)
}

// Item 3: the same ONAPPINSTALL delivered again after the App rotated its pair changes
// nothing; the duplicate answers 200.
func TestReplayedInstallChangesNothing(t *testing.T) {
	ea := newEventApp(t)
	form := ea.srv.EventForm("ONAPPINSTALL")
	require.Equal(t, http.StatusOK, ea.send(t, form))
	assert.Equal(t, http.StatusOK, ea.send(t, form), "a duplicate delivery")
	rotated := rotateInstallPair(t, ea.app, ea.srv)

	assert.Equal(t, http.StatusOK, ea.send(t, form), "the replay answers 200")
	after, _, _ := ea.stored(t)
	assert.Equal(t, rotated.RefreshToken, after.RefreshToken, "and changes nothing")
	assert.Equal(t, []string{"ONAPPINSTALL"}, ea.seen(), "OnEvent ran once")
	callAsInstall(t, ea.app, ea.srv)
}

// Item 3: a replayed ONAPPUPDATE reaching another process (an App sharing the store)
// is older than the stored pair by its expiry, as app.info tells it.
func TestReplayedUpdateInAnotherProcessChangesNothing(t *testing.T) {
	// The portal's clock is ten minutes behind the App's: expiries are compared on one
	// clock all the same. The replayed update was sent five minutes before the App
	// rotated its pair.
	var mu sync.Mutex
	behind := -10 * time.Minute
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(behind) }
	setBehind := func(d time.Duration) { mu.Lock(); behind = d; mu.Unlock() }
	app, srv := newAppPortal(t, bitrix24test.WithClock(clock))
	ea := newEventAppFor(t, app, srv)
	ea.install(t)
	setBehind(-15 * time.Minute)
	update := srv.EventForm("ONAPPUPDATE")
	setBehind(-10 * time.Minute)
	rotated := rotateInstallPair(t, app, srv)

	other := srv.App()
	other.Store = app.Store
	oa := newEventAppFor(t, other, srv)
	assert.Equal(t, http.StatusOK, oa.send(t, update))
	after, _, _ := oa.stored(t)
	assert.Equal(t, rotated.RefreshToken, after.RefreshToken)
	assert.Empty(t, oa.seen())

	// A genuine update, issued after the rotation, is stored.
	fresh := srv.EventForm("ONAPPUPDATE")
	assert.Equal(t, http.StatusOK, oa.send(t, fresh))
	after, _, _ = oa.stored(t)
	assert.Equal(t, fresh.Get("auth[refresh_token]"), after.RefreshToken)
	assert.Equal(t, []string{"ONAPPUPDATE"}, oa.seen())
}

// rotateInstallPair makes the App refresh its install pair (its stored expiry is moved
// into the past, so the next call refreshes first) and returns the new pair.
func rotateInstallPair(t *testing.T, app *bitrix24.App, srv *bitrix24test.Server) bitrix24.Token {
	t.Helper()
	ctx := context.Background()
	old, err := app.Store.Load(ctx, installKey(srv))
	require.NoError(t, err)
	stale := old
	stale.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, app.Store.Save(ctx, installKey(srv), stale))
	callAsInstall(t, app, srv)
	rotated, err := app.Store.Load(ctx, installKey(srv))
	require.NoError(t, err)
	require.NotEqual(t, old.RefreshToken, rotated.RefreshToken)
	return rotated
}

// Item 4: the same page POST handled again after the App rotated the user's pair does
// not put the spent pair back.
func TestReplayedPageKeepsTheRotatedPair(t *testing.T) {
	app, srv := newAppPortal(t)
	var mu sync.Mutex
	now := time.Now()
	bitrix24.SetAppClock(app, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ctx := context.Background()
	key := bitrix24.TokenKey{MemberID: srv.MemberID(), UserID: 4}
	r := pageRequest(t, srv, bitrix24test.PageOptions{UserID: 4})
	_, err := app.ClientFor(ctx, r)
	require.NoError(t, err)

	stored, err := app.Store.Load(ctx, key)
	require.NoError(t, err)
	stored.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, app.Store.Save(ctx, key, stored))
	c, err := app.Client(ctx, key)
	require.NoError(t, err)
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"a": "1"})) // refreshes first
	rotated, err := app.Store.Load(ctx, key)
	require.NoError(t, err)
	require.NotEqual(t, r.Token.RefreshToken, rotated.RefreshToken)

	c, err = app.ClientFor(ctx, r) // the replay
	require.NoError(t, err)
	after, err := app.Store.Load(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, rotated.RefreshToken, after.RefreshToken, "the spent pair is not put back")
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"a": "2"}))

	// A newer page is not stored either while the stored pair works...
	fresh := pageRequest(t, srv, bitrix24test.PageOptions{UserID: 4})
	_, err = app.ClientFor(ctx, fresh)
	require.NoError(t, err)
	after, err = app.Store.Load(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, rotated.RefreshToken, after.RefreshToken)

	// ...but once the stored pair is refused, the request's pair replaces it (a pair
	// that worked is trusted for a minute).
	require.True(t, srv.RevokeRefreshToken(rotated.RefreshToken))
	require.True(t, srv.ExpireToken(rotated.AccessToken))
	advance(time.Minute + time.Second)
	fresh = pageRequest(t, srv, bitrix24test.PageOptions{UserID: 4})
	c, err = app.ClientFor(ctx, fresh)
	require.NoError(t, err)
	after, err = app.Store.Load(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, fresh.Token.RefreshToken, after.RefreshToken)
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"a": "3"}))
	assert.Equal(t, "3", srv.UserOptions(app.ClientID, 4)["a"])
}

// Item 2: a stored pair naming an untrusted server (stored by an older version, which
// kept the event's server_endpoint) is refreshed at the App's own token endpoint; the
// refresh token never goes to the named host.
func TestStoredUntrustedServerIsNotUsedForRefresh(t *testing.T) {
	ea := newEventApp(t)
	ea.install(t)
	ctx := context.Background()
	pair, _, _ := ea.stored(t)
	pair.ServerEndpoint = "https://evil.example.test/rest/"
	require.NoError(t, ea.app.Store.Save(ctx, installKey(ea.srv), pair))
	require.True(t, ea.srv.ExpireToken(pair.AccessToken))
	callAsInstall(t, ea.app, ea.srv)
	after, _, _ := ea.stored(t)
	assert.NotEqual(t, pair.RefreshToken, after.RefreshToken, "refreshed at the fake's token endpoint")
}
