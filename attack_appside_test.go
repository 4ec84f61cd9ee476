package bitrix24_test

// Attacks on the application side (attack round): each test plays a sender the
// contract's "The application side under attack" names, or a user callback gone wrong.

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// The portal may deliver one install twice at once (a retry after a slow answer): the
// duplicate answers 200 and changes nothing, so OnEvent runs once.
func TestAttackConcurrentDuplicateInstallRunsOnEventOnce(t *testing.T) {
	app, srv := newAppPortal(t)
	app.Store = slowStore{app.Store} // a remote store: saving takes a while
	ea := newEventAppFor(t, app, srv)
	form := ea.srv.EventForm("ONAPPINSTALL")
	const n = 6
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = ea.srv.SendEvent(context.Background(), nil, ea.url, form)
		}()
	}
	wg.Wait()
	for _, s := range statuses {
		assert.Equal(t, http.StatusOK, s)
	}
	assert.Equal(t, []string{"ONAPPINSTALL"}, ea.seen(), "a duplicate delivery runs OnEvent once")
}

// A failing or panicking OnEvent is logged, but the event's secrets never reach the log,
// even when the callback's error or panic value quotes them.
func TestAttackOnEventFailureLogsNoSecret(t *testing.T) {
	ea := newEventApp(t)
	ea.install(t)
	form := ea.srv.EventForm("ONCRMLEADADD")
	pair, appToken, _ := ea.stored(t)
	ea.mu.Lock()
	ea.fail = func(ev *bitrix24.Event) error {
		if ev.Name == "ONCRMLEADADD" {
			panic("boom with " + ev.Auth.ApplicationToken + " " + ev.Auth.Token.AccessToken)
		}
		return fmt.Errorf("no thanks: %s %s", ev.Auth.ApplicationToken, ev.Auth.Token.AccessToken)
	}
	ea.mu.Unlock()
	assert.Equal(t, http.StatusInternalServerError, ea.send(t, form))
	assert.Equal(t, http.StatusInternalServerError, ea.send(t, ea.srv.EventForm("ONCRMLEADUPDATE")))
	logs := ea.logs.String()
	assert.Contains(t, logs, "boom")
	assertNoSecret(t, logs, appToken, form.Get("auth[access_token]"), pair.AccessToken, pair.RefreshToken, ea.app.ClientSecret)
}

// Secrets are not in any error of the app side's failure paths.
func TestAttackAppSideErrorsLeakNothing(t *testing.T) {
	app, srv := newAppPortal(t)
	ctx := context.Background()
	r := pageRequest(t, srv, bitrix24test.PageOptions{UserID: 4})
	secrets := []string{r.Token.AccessToken, r.Token.RefreshToken, app.ClientSecret, srv.ApplicationToken()}
	check := func(err error) {
		t.Helper()
		if err == nil {
			return
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			assertNoSecret(t, s, secrets...)
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			assertNoSecret(t, e.Error(), secrets...)
		}
	}
	for _, f := range []bitrix24test.Fault{
		bitrix24test.FaultError(401, "invalid_token", "token "+r.Token.AccessToken+" of "+r.Token.RefreshToken+" is bad"),
		bitrix24test.FaultError(500, "INTERNAL", "secret "+app.ClientSecret+" "+r.Token.AccessToken),
		bitrix24test.FaultHTML(502),
	} {
		srv.InjectFault("oauth/app.info", 1, f)
		_, err := app.ClientFor(ctx, r)
		require.Error(t, err)
		check(err)
		if f.Status == 401 {
			require.ErrorIs(t, err, bitrix24.ErrNotVerified)
			require.ErrorIs(t, err, bitrix24.ErrInvalidToken, "the refusal keeps its sentinel")
		}
	}
}

// A failing or panicking View is logged without the page's secrets.
func TestAttackRenderFailureLogsNoSecret(t *testing.T) {
	app, srv := newAppPortal(t)
	var logs syncBuffer
	var seen []string
	render := func(_ context.Context, f *bitrix24.FieldRequest) (template.HTML, error) {
		seen = []string{f.Request.Token.AccessToken, f.Request.Token.RefreshToken, f.Request.ApplicationToken}
		if f.Field.Mode == bitrix24.FieldModeView {
			panic("view of " + f.Request.Token.RefreshToken + " " + f.Request.ApplicationToken)
		}
		return "", fmt.Errorf("edit of %s %s", f.Request.Token.AccessToken, f.Request.Token.RefreshToken)
	}
	ts := httptest.NewServer(&bitrix24.FieldTypeHandler{App: app, View: render, Edit: render,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(ts.Close)
	for _, mode := range []string{"view", "edit"} {
		req, err := srv.UserFieldRequest(context.Background(), ts.URL, bitrix24test.UserFieldOptions{Mode: mode})
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		require.Len(t, seen, 3)
		assertNoSecret(t, logs.String(), append(seen, app.ClientSecret)...)
	}
	assert.Contains(t, logs.String(), "edit of")
}

// A replayed install reaching another process (an App sharing the store) whose pair
// expires in the same second as the pair the App rotated it into: it must not put the
// spent refresh token back.
//
// Known defect, not fixed: olderThanStored compares expiries to the second, and
// TestReplayedUpdateInAnotherProcessChangesNothing requires a genuine update whose pair
// expires in the same second as the stored one to be stored; app.info's expires has no
// fraction, so nothing in the event tells the two apart. A fix needs a record of
// replaced pairs shared through the store.
func TestAttackReplayedInstallSameExpirySecond(t *testing.T) {
	t.Skip("known defect: a replay whose pair expires in the same second as the stored pair replaces it (see the comment)")
	var mu sync.Mutex
	frozen := time.Now().Truncate(time.Second).Add(100 * time.Millisecond)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return frozen }
	app, srv := newAppPortal(t, bitrix24test.WithClock(clock))
	ea := newEventAppFor(t, app, srv)
	install := srv.EventForm("ONAPPINSTALL")
	require.Equal(t, http.StatusOK, ea.send(t, install))
	rotated := rotateInstallPair(t, app, srv)

	other := srv.App()
	other.Store = app.Store
	oa := newEventAppFor(t, other, srv)
	assert.Equal(t, http.StatusOK, oa.send(t, install))
	after, _, _ := oa.stored(t)
	assert.Equal(t, rotated.RefreshToken, after.RefreshToken, "the replay changed the stored pair")
	assert.Empty(t, oa.seen())
}

// panickingStore is a user's TokenStore gone wrong.
type panickingStore struct{ bitrix24.TokenStore }

func (panickingStore) Load(context.Context, bitrix24.TokenKey) (bitrix24.Token, error) {
	panic("store exploded")
}

// A panicking Store (user code, like a callback) makes the handlers answer 500 and log
// it; the server goroutine carries on.
func TestAttackPanickingStoreAnswers500(t *testing.T) {
	app, srv := newAppPortal(t)
	app.Store = panickingStore{bitrix24.NewMemoryTokenStore()}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	events := httptest.NewServer(&bitrix24.EventHandler{App: app, Logger: logger})
	t.Cleanup(events.Close)
	status, err := srv.SendEvent(context.Background(), nil, events.URL, srv.EventForm("ONCRMLEADADD"))
	require.NoError(t, err, "the handler answers")
	assert.Equal(t, http.StatusInternalServerError, status)

	field := httptest.NewServer(&bitrix24.FieldTypeHandler{App: app, View: bitrix24.PlainValues, Edit: bitrix24.PlainValues, Logger: logger})
	t.Cleanup(field.Close)
	req, err := srv.UserFieldRequest(context.Background(), field.URL, bitrix24test.UserFieldOptions{})
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "the handler answers")
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Contains(t, logs.String(), "store exploded")
}

// An uninstall (genuine or forged) while the authorization server is down and the
// stored access token has expired: nothing is forgotten, OnEvent does not run, and the
// answer asks the portal to retry (503).
func TestAttackUninstallWhileAuthorizationServerDown(t *testing.T) {
	for _, fault := range []bitrix24test.Fault{bitrix24test.FaultHTML(502), bitrix24test.FaultDrop(),
		bitrix24test.FaultError(500, "internal_error", "down")} {
		ea := newEventApp(t)
		ea.install(t)
		before, _, _ := ea.stored(t)
		require.True(t, ea.srv.ExpireToken(before.AccessToken))
		ea.srv.InjectFault("oauth/token", 100, fault)
		assert.Equal(t, http.StatusServiceUnavailable, ea.send(t, ea.srv.EventForm("ONAPPUNINSTALL")))
		ea.srv.ClearFaults()
		after, _, ok := ea.stored(t)
		require.True(t, ok, "nothing is forgotten")
		assert.Equal(t, before.RefreshToken, after.RefreshToken)
		assert.Equal(t, []string{"ONAPPINSTALL"}, ea.seen())
		callAsInstall(t, ea.app, ea.srv)
	}
}

// Spellings of server_endpoint that name another host (or the trusted host another way)
// are refused, or mapped to the App's own spelling; nothing is ever sent to a host a
// request names.
func TestAttackServerEndpointSpellings(t *testing.T) {
	var hits atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	t.Cleanup(evil.Close)
	app, srv := newAppPortal(t)
	trusted, err := url.Parse(srv.ServerEndpoint())
	require.NoError(t, err)
	evilURL, _ := url.Parse(evil.URL)
	host, port, _ := net.SplitHostPort(trusted.Host)
	spellings := []string{
		evil.URL + "/rest/",
		trusted.Scheme + "://user:pw@" + trusted.Host + trusted.Path,
		trusted.Scheme + "://" + trusted.Host + "@" + evilURL.Host + trusted.Path,
		trusted.Scheme + "://" + host + ".:" + port + trusted.Path,
		trusted.Scheme + "://" + host + ":1" + port + trusted.Path,
		"ftp://" + trusted.Host + trusted.Path,
		trusted.Scheme + "://" + trusted.Host + trusted.Path + "../evil/",
		trusted.Scheme + "://" + trusted.Host + trusted.Path + "?x=1",
		"//" + evilURL.Host + "/rest/",
		" " + evil.URL + "/rest/",
	}
	if trusted.Scheme == "https" {
		spellings = append(spellings, "http://"+trusted.Host+trusted.Path)
	} else {
		spellings = append(spellings, "https://"+trusted.Host+trusted.Path)
	}
	ctx := context.Background()
	for _, s := range spellings {
		r := pageRequest(t, srv, bitrix24test.PageOptions{UserID: 4})
		r.Token.ServerEndpoint = s
		_, err := app.ClientFor(ctx, r)
		require.ErrorIs(t, err, bitrix24.ErrNotVerified, s)
	}
	// The trusted server in capitals and without its trailing slash: the App's spelling.
	r := pageRequest(t, srv, bitrix24test.PageOptions{UserID: 4})
	r.Token.ServerEndpoint = strings.ToUpper(trusted.Scheme+"://"+trusted.Host) + strings.TrimSuffix(trusted.Path, "/")
	c, err := app.ClientFor(ctx, r)
	require.NoError(t, err)
	var admin bool
	require.NoError(t, c.Call(ctx, "user.admin", nil, &admin))
	stored, err := app.Store.Load(ctx, bitrix24.TokenKey{MemberID: srv.MemberID(), UserID: 4})
	require.NoError(t, err)
	assert.Equal(t, srv.ServerEndpoint(), stored.ServerEndpoint, "stored as the App spells it")
	assert.Zero(t, hits.Load(), "nothing reached a host a request named")
}

// slowStore is a store whose writes take a round trip, as a remote one's do.
type slowStore struct{ bitrix24.TokenStore }

func (s slowStore) Save(ctx context.Context, key bitrix24.TokenKey, t bitrix24.Token) error {
	time.Sleep(30 * time.Millisecond) // latency, not an assertion
	return s.TokenStore.Save(ctx, key, t)
}

// failOnceStore fails the first Save of the install pair, after a while.
type failOnceStore struct {
	bitrix24.TokenStore
	failed atomic.Bool
}

func (s *failOnceStore) Save(ctx context.Context, key bitrix24.TokenKey, t bitrix24.Token) error {
	time.Sleep(30 * time.Millisecond) // latency, not an assertion
	if key.UserID == 0 && s.failed.CompareAndSwap(false, true) {
		return errors.New("store briefly down")
	}
	return s.TokenStore.Save(ctx, key, t)
}

// A duplicate delivered while the first one fails to store the pair does not answer 200
// for a pair nobody stored: it stores it itself.
func TestAttackConcurrentDuplicateInstallAfterAFailedSave(t *testing.T) {
	app, srv := newAppPortal(t)
	app.Store = &failOnceStore{TokenStore: app.Store}
	ea := newEventAppFor(t, app, srv)
	form := ea.srv.EventForm("ONAPPINSTALL")
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Go(func() { statuses[i], _ = ea.srv.SendEvent(context.Background(), nil, ea.url, form) })
	}
	wg.Wait()
	assert.ElementsMatch(t, []int{http.StatusOK, http.StatusInternalServerError}, statuses)
	pair, _, ok := ea.stored(t)
	require.True(t, ok, "the 200 means the pair is stored")
	assert.Equal(t, form.Get("auth[refresh_token]"), pair.RefreshToken)
	assert.Equal(t, []string{"ONAPPINSTALL"}, ea.seen())
}

// The expiry stored with an install pair is the one the authorization server vouches
// for, not the event's expires_in, which an administrator's browser can forge: a pair
// stored as living thirty years would make every later genuine update look older.
func TestAttackInstallExpiryComesFromAppInfo(t *testing.T) {
	ea := newEventApp(t)
	form := ea.srv.EventForm("ONAPPINSTALL")
	form.Set("auth[expires_in]", "1000000000")
	form.Set("auth[expires]", "")
	require.Equal(t, http.StatusOK, ea.send(t, form))
	pair, _, ok := ea.stored(t)
	require.True(t, ok)
	assert.WithinDuration(t, time.Now().Add(time.Hour), pair.Expiry, 5*time.Minute)

	fresh := ea.srv.EventForm("ONAPPUPDATE")
	require.Equal(t, http.StatusOK, ea.send(t, fresh))
	after, _, _ := ea.stored(t)
	assert.Equal(t, fresh.Get("auth[refresh_token]"), after.RefreshToken, "a genuine update is stored")
}

// The portal is reinstalled while the App still checks the pair of the old installation
// for an uninstall: the new installation's pair, stored meanwhile, is not forgotten.
func TestAttackUninstallRacingAReinstall(t *testing.T) {
	ea := newEventApp(t)
	ea.install(t)
	ea.srv.Uninstall() // the portal revokes the old pair, then sends the uninstall
	ea.srv.InjectFault("user.admin", 1, bitrix24test.FaultDelay(2*time.Second))
	uninstalled := make(chan int, 1)
	go func() {
		status, _ := ea.srv.SendEvent(context.Background(), nil, ea.url, ea.srv.EventForm("ONAPPUNINSTALL"))
		uninstalled <- status
	}()
	require.Eventually(t, func() bool { return ea.srv.FaultsApplied() == 1 }, 5*time.Second, time.Millisecond,
		"the uninstall is checking the old pair")
	reinstall := ea.srv.EventForm("ONAPPINSTALL")
	require.Equal(t, http.StatusOK, ea.send(t, reinstall))
	<-uninstalled
	pair, _, ok := ea.stored(t)
	require.True(t, ok, "the new installation is not forgotten")
	assert.Equal(t, reinstall.Get("auth[refresh_token]"), pair.RefreshToken)
	callAsInstall(t, ea.app, ea.srv)
}

// An App without its client id or secret is the server's misconfiguration, not a bad
// request: the handlers answer 500 and say so at Error level, even without a Logger.
// (Not parallel: it replaces slog's default.)
func TestAttackAppWithoutCredentialsIsAMisconfiguration(t *testing.T) {
	var buf syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	good, srv := newAppPortal(t)
	for name, app := range map[string]*bitrix24.App{
		"no client id": {ClientSecret: good.ClientSecret, ServerEndpoint: good.ServerEndpoint, TokenURL: good.TokenURL, Options: good.Options},
		"no secret":    {ClientID: good.ClientID, ServerEndpoint: good.ServerEndpoint, TokenURL: good.TokenURL, Options: good.Options},
	} {
		rec := httptest.NewRecorder()
		(&bitrix24.EventHandler{App: app}).ServeHTTP(rec, formRequest(t, "/events", srv.EventForm("ONAPPINSTALL").Encode()))
		assert.Equal(t, http.StatusInternalServerError, rec.Code, name)

		req, err := srv.UserFieldRequest(context.Background(), "https://app.example.test/field", bitrix24test.UserFieldOptions{Mode: "view"})
		require.NoError(t, err)
		rec = httptest.NewRecorder()
		(&bitrix24.FieldTypeHandler{App: app, View: bitrix24.PlainValues, Edit: bitrix24.PlainValues}).ServeHTTP(rec, req)
		assert.Equal(t, http.StatusInternalServerError, rec.Code, name)
	}
	assert.Equal(t, 4, strings.Count(buf.String(), "level=ERROR"), buf.String())
	assertNoSecret(t, buf.String(), good.ClientSecret, srv.ApplicationToken())
}
