package bitrix24_test

import (
	"context"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// eventApp serves an EventHandler over loopback HTTP and records the events it lets
// through.
type eventApp struct {
	app  *bitrix24.App
	srv  *bitrix24test.Server
	url  string
	logs *syncBuffer

	mu     sync.Mutex
	events []string
	fail   func(ev *bitrix24.Event) error
}

func newEventApp(t *testing.T) *eventApp {
	t.Helper()
	app, srv := newAppPortal(t)
	return newEventAppFor(t, app, srv)
}

// newEventAppFor serves an EventHandler of app, whose portal is srv.
func newEventAppFor(t *testing.T, app *bitrix24.App, srv *bitrix24test.Server) *eventApp {
	t.Helper()
	ea := &eventApp{app: app, srv: srv, logs: &syncBuffer{}}
	h := &bitrix24.EventHandler{
		App:    app,
		Logger: slog.New(slog.NewTextHandler(ea.logs, nil)),
		OnEvent: func(_ context.Context, ev *bitrix24.Event) error {
			ea.mu.Lock()
			defer ea.mu.Unlock()
			ea.events = append(ea.events, ev.Name)
			if ea.fail != nil {
				return ea.fail(ev)
			}
			return nil
		},
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	ea.url = ts.URL + "/events"
	return ea
}

func (ea *eventApp) send(t *testing.T, form url.Values) int {
	t.Helper()
	status, err := ea.srv.SendEvent(context.Background(), nil, ea.url, form)
	require.NoError(t, err)
	return status
}

func (ea *eventApp) seen() []string {
	ea.mu.Lock()
	defer ea.mu.Unlock()
	return append([]string(nil), ea.events...)
}

func (ea *eventApp) install(t *testing.T) {
	t.Helper()
	status, err := ea.srv.SendInstall(context.Background(), nil, ea.url)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
}

// stored reports what the App keeps for the fake portal.
func (ea *eventApp) stored(t *testing.T) (pair bitrix24.Token, appToken string, ok bool) {
	t.Helper()
	ctx := context.Background()
	pair, err := ea.app.Store.Load(ctx, bitrix24.TokenKey{MemberID: ea.srv.MemberID()})
	if errors.Is(err, bitrix24.ErrTokenNotFound) {
		_, err2 := ea.app.Store.Load(ctx, bitrix24.ApplicationTokenKey(ea.srv.MemberID()))
		require.ErrorIs(t, err2, bitrix24.ErrTokenNotFound)
		return bitrix24.Token{}, "", false
	}
	require.NoError(t, err)
	at, err := ea.app.Store.Load(ctx, bitrix24.ApplicationTokenKey(ea.srv.MemberID()))
	require.NoError(t, err)
	return pair, at.AccessToken, true
}

func TestEventHandlerInstallStoresThePair(t *testing.T) {
	ea := newEventApp(t)
	form := ea.srv.EventForm("ONAPPINSTALL")
	require.Equal(t, http.StatusOK, ea.send(t, form))
	pair, appToken, ok := ea.stored(t)
	require.True(t, ok)
	assert.Equal(t, form.Get("auth[access_token]"), pair.AccessToken)
	assert.Equal(t, form.Get("auth[refresh_token]"), pair.RefreshToken)
	assert.Equal(t, ea.srv.ApplicationToken(), appToken)
	assert.Equal(t, []string{"ONAPPINSTALL"}, ea.seen())

	// The stored install pair makes a working client.
	c, err := ea.app.Client(context.Background(), bitrix24.TokenKey{MemberID: ea.srv.MemberID()})
	require.NoError(t, err)
	require.NoError(t, c.UserFieldType.Add(context.Background(), bitrix24.UserFieldType{
		UserTypeID: "rating", Handler: "https://app.example.test/field", Title: "Rating"}))

	// Later events pass with the stored application_token.
	require.Equal(t, http.StatusOK, ea.send(t, ea.srv.EventForm("ONCRMLEADADD")))
	assert.Equal(t, []string{"ONAPPINSTALL", "ONCRMLEADADD"}, ea.seen())
}

func TestEventHandlerRefusesForgedInstall(t *testing.T) {
	ea := newEventApp(t)
	forged := ea.srv.EventForm("ONAPPINSTALL")
	forged.Set("auth[access_token]", "f0rgedAcc3ssToken")
	assert.Equal(t, http.StatusUnauthorized, ea.send(t, forged))

	otherMember := ea.srv.EventForm("ONAPPINSTALL")
	otherMember.Set("auth[member_id]", "0therMember")
	assert.Equal(t, http.StatusForbidden, ea.send(t, otherMember))

	// A genuine pair of another application of the portal.
	other := ea.srv.InstallApp("placement")
	otherApp := ea.srv.EventForm("ONAPPINSTALL")
	otherApp.Set("auth[access_token]", other.Token.AccessToken)
	otherApp.Set("auth[refresh_token]", other.Token.RefreshToken)
	assert.Equal(t, http.StatusForbidden, ea.send(t, otherApp))

	noPair := ea.srv.EventForm("ONAPPINSTALL")
	noPair.Del("auth[refresh_token]")
	assert.Equal(t, http.StatusBadRequest, ea.send(t, noPair))

	noAppToken := ea.srv.EventForm("ONAPPINSTALL")
	noAppToken.Del("auth[application_token]")
	assert.Equal(t, http.StatusBadRequest, ea.send(t, noAppToken))

	noDomain := ea.srv.EventForm("ONAPPINSTALL")
	noDomain.Del("auth[domain]")
	assert.Equal(t, http.StatusBadRequest, ea.send(t, noDomain))

	_, _, ok := ea.stored(t)
	assert.False(t, ok, "refusals store nothing")
	assert.Empty(t, ea.seen(), "refused events reach no callback")
	assertNoSecret(t, ea.logs.String(), "f0rgedAcc3ssToken", ea.srv.ApplicationToken(), ea.app.ClientSecret,
		forged.Get("auth[refresh_token]"), other.Token.AccessToken)
}

func TestEventHandlerRefusesWrongApplicationToken(t *testing.T) {
	ea := newEventApp(t)
	// Before install, no event passes: nothing to compare with.
	assert.Equal(t, http.StatusForbidden, ea.send(t, ea.srv.EventForm("ONCRMLEADADD")))
	ea.install(t)
	pairBefore, _, _ := ea.stored(t)

	for name, mutate := range map[string]func(url.Values){
		"wrong token":   func(f url.Values) { f.Set("auth[application_token]", "0000aaaa0000aaaa0000aaaa0000aaaa") },
		"empty token":   func(f url.Values) { f.Set("auth[application_token]", "") },
		"other portal":  func(f url.Values) { f.Set("auth[member_id]", "0therMember") },
		"no member_id":  func(f url.Values) { f.Del("auth[member_id]") },
		"no event name": func(f url.Values) { f.Del("event") },
	} {
		for _, event := range []string{"ONCRMLEADADD", "ONAPPUNINSTALL", "ONAPPUPDATE"} {
			form := ea.srv.EventForm(event)
			if event == "ONAPPUPDATE" {
				// A genuine token of a user who is not an administrator.
				form.Set("auth[access_token]", ea.srv.OAuthConfigForUser(5).Token.AccessToken)
			}
			mutate(form)
			status := ea.send(t, form)
			assert.Contains(t, []int{400, 401, 403}, status, "%s %s", name, event)
		}
	}
	assert.Equal(t, []string{"ONAPPINSTALL"}, ea.seen())
	pairAfter, appToken, ok := ea.stored(t)
	require.True(t, ok, "refused uninstalls forget nothing")
	assert.Equal(t, pairBefore, pairAfter, "refused updates replace nothing")
	assert.Equal(t, ea.srv.ApplicationToken(), appToken)
}

func TestEventHandlerPairsComeFromAdministrators(t *testing.T) {
	ea := newEventApp(t)
	user := ea.srv.OAuthConfigForUser(5).Token // a genuine pair of a user who is no admin
	forged := ea.srv.EventForm("ONAPPINSTALL")
	forged.Set("auth[access_token]", user.AccessToken)
	forged.Set("auth[refresh_token]", user.RefreshToken)
	forged.Set("auth[application_token]", "2222cccc2222cccc2222cccc2222cccc")
	assert.Equal(t, http.StatusForbidden, ea.send(t, forged), "a user's own token installs nothing")
	_, _, ok := ea.stored(t)
	require.False(t, ok)

	ea.install(t)
	pair, _, _ := ea.stored(t)
	assert.Equal(t, http.StatusForbidden, ea.send(t, forged), "nor overwrites the installation")
	forgedUpdate := ea.srv.EventForm("ONAPPUPDATE")
	forgedUpdate.Set("auth[access_token]", user.AccessToken)
	forgedUpdate.Set("auth[application_token]", "2222cccc2222cccc2222cccc2222cccc")
	assert.Equal(t, http.StatusForbidden, ea.send(t, forgedUpdate))
	after, appToken, _ := ea.stored(t)
	assert.Equal(t, pair, after)
	assert.Equal(t, ea.srv.ApplicationToken(), appToken)

	// Even with the stored application_token, a user's pair replaces nothing.
	update := ea.srv.EventForm("ONAPPUPDATE")
	update.Set("auth[access_token]", user.AccessToken)
	update.Set("auth[refresh_token]", user.RefreshToken)
	assert.Equal(t, http.StatusForbidden, ea.send(t, update))
	after, _, _ = ea.stored(t)
	assert.Equal(t, pair, after)
}

func TestEventHandlerMalformedRequests(t *testing.T) {
	ea := newEventApp(t)
	ea.install(t)
	post := func(method, ct, body string) int {
		req, err := http.NewRequest(method, ea.url, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	form := "application/x-www-form-urlencoded"
	assert.Equal(t, http.StatusBadRequest, post(http.MethodGet, form, ""))
	assert.Equal(t, http.StatusBadRequest, post(http.MethodPost, "application/json", `{"event":"ONCRMLEADADD"}`))
	assert.Equal(t, http.StatusBadRequest, post(http.MethodPost, form, "event=X&auth[member_id]=%zz"))
	assert.Equal(t, http.StatusBadRequest, post(http.MethodPost, form, "event=ONCRMLEADADD"))
	assert.Equal(t, []string{"ONAPPINSTALL"}, ea.seen())
}

func TestEventHandlerUpdateRotatesTheApplicationToken(t *testing.T) {
	ea := newEventApp(t)
	ea.install(t)
	old := ea.srv.ApplicationToken()
	rotated := ea.srv.RotateApplicationToken()
	update := ea.srv.EventForm("ONAPPUPDATE")
	require.Equal(t, http.StatusOK, ea.send(t, update))
	pair, appToken, _ := ea.stored(t)
	assert.Equal(t, rotated, appToken)
	assert.Equal(t, update.Get("auth[refresh_token]"), pair.RefreshToken)

	stale := ea.srv.EventForm("ONCRMLEADADD")
	stale.Set("auth[application_token]", old)
	assert.Equal(t, http.StatusUnauthorized, ea.send(t, stale))
	assert.Equal(t, http.StatusOK, ea.send(t, ea.srv.EventForm("ONCRMLEADADD")))

	// An update whose token the authorization server refuses changes nothing.
	forged := ea.srv.EventForm("ONAPPUPDATE")
	forged.Set("auth[access_token]", "f0rgedAcc3ssToken")
	forged.Set("auth[application_token]", "1111bbbb1111bbbb1111bbbb1111bbbb")
	assert.Equal(t, http.StatusUnauthorized, ea.send(t, forged))
	_, appToken, _ = ea.stored(t)
	assert.Equal(t, rotated, appToken)
	assert.Equal(t, []string{"ONAPPINSTALL", "ONAPPUPDATE", "ONCRMLEADADD"}, ea.seen())
}

func TestEventHandlerUninstallForgetsThePortal(t *testing.T) {
	ea := newEventApp(t)
	ea.install(t)
	ctx := context.Background()
	// A user's pair saved through ClientFor goes too.
	r := pageRequest(t, ea.srv, bitrix24test.PageOptions{UserID: 4})
	_, err := ea.app.ClientFor(ctx, r)
	require.NoError(t, err)

	// The portal revokes the application's tokens, then sends the event.
	ea.srv.Uninstall()
	status, err := ea.srv.SendUninstall(ctx, nil, ea.url)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	_, _, ok := ea.stored(t)
	assert.False(t, ok)
	_, err = ea.app.Client(ctx, bitrix24.TokenKey{MemberID: ea.srv.MemberID(), UserID: 4})
	require.ErrorIs(t, err, bitrix24.ErrTokenNotFound)
	assert.Equal(t, http.StatusForbidden, ea.send(t, ea.srv.EventForm("ONCRMLEADADD")), "an uninstalled portal's events are refused")
	assert.Equal(t, []string{"ONAPPINSTALL", "ONAPPUNINSTALL"}, ea.seen())
}

func TestEventHandlerCallbackFailures(t *testing.T) {
	ea := newEventApp(t)
	ea.install(t)
	ea.mu.Lock()
	ea.fail = func(ev *bitrix24.Event) error {
		if ev.Name == "ONCRMLEADADD" {
			panic("boom")
		}
		return errors.New("no thanks")
	}
	ea.mu.Unlock()
	assert.Equal(t, http.StatusInternalServerError, ea.send(t, ea.srv.EventForm("ONCRMLEADADD")), "a panic is a 500")
	assert.Equal(t, http.StatusInternalServerError, ea.send(t, ea.srv.EventForm("ONCRMLEADUPDATE")))
	assert.Contains(t, ea.logs.String(), "boom")
}

func TestEventHandlerAuthorizationServerDown(t *testing.T) {
	ea := newEventApp(t)
	ea.srv.InjectFault("oauth/app.info", 1, bitrix24test.FaultHTML(502))
	assert.Equal(t, http.StatusServiceUnavailable, ea.send(t, ea.srv.EventForm("ONAPPINSTALL")))
	_, _, ok := ea.stored(t)
	assert.False(t, ok)
}

// fieldApp serves a FieldTypeHandler over loopback HTTP.
type fieldApp struct {
	app   *bitrix24.App
	srv   *bitrix24test.Server
	url   string
	calls []*bitrix24.FieldRequest
	mu    sync.Mutex
	fail  error
}

func newFieldApp(t *testing.T) *fieldApp {
	t.Helper()
	app, srv := newAppPortal(t)
	fa := &fieldApp{app: app, srv: srv}
	render := func(ctx context.Context, f *bitrix24.FieldRequest) (template.HTML, error) {
		fa.mu.Lock()
		defer fa.mu.Unlock()
		fa.calls = append(fa.calls, f)
		if fa.fail != nil {
			if fa.fail.Error() == "panic" {
				panic("render exploded")
			}
			return "", fa.fail
		}
		return template.HTML("<p id=mode>" + f.Field.Mode + ":" + strings.Join(f.Field.Values, ",") + "</p>"), nil
	}
	ts := httptest.NewServer(&bitrix24.FieldTypeHandler{App: app, View: render, Edit: render})
	t.Cleanup(ts.Close)
	fa.url = ts.URL + "/field"
	return fa
}

func (fa *fieldApp) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func (fa *fieldApp) open(t *testing.T, o bitrix24test.UserFieldOptions) (*http.Response, string) {
	t.Helper()
	req, err := fa.srv.UserFieldRequest(context.Background(), fa.url, o)
	require.NoError(t, err)
	return fa.do(t, req)
}

func TestFieldTypeHandlerView(t *testing.T) {
	fa := newFieldApp(t)
	resp, body := fa.open(t, bitrix24test.UserFieldOptions{Mode: "view", Values: []string{"4"}, EntityValueID: 12})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, "<p id=mode>view:4</p>")
	assert.Contains(t, body, `BX24.placement.call('setValue'`)
	assert.Contains(t, body, "https://api.bitrix24.com/api/v1/")
	assert.Contains(t, body, `"values":["4"]`)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Empty(t, resp.Header.Get("X-Frame-Options"), "the portal frames the page")
	assert.Equal(t, "frame-ancestors "+fa.srv.URL, resp.Header.Get("Content-Security-Policy"))
	require.Len(t, fa.calls, 1)
	assert.Equal(t, bitrix24.ID(12), fa.calls[0].Field.EntityValueID)
	require.NotNil(t, fa.calls[0].Client, "the render function gets a client acting as the user")
	// No token reaches the page.
	assertNoSecret(t, body, fa.calls[0].Request.Token.AccessToken, fa.calls[0].Request.Token.RefreshToken, fa.srv.ApplicationToken())
}

func TestFieldTypeHandlerEditMultiple(t *testing.T) {
	fa := newFieldApp(t)
	resp, body := fa.open(t, bitrix24test.UserFieldOptions{Mode: "edit", Multiple: true, Values: []string{"a", "</script><b>"},
		Page: bitrix24test.PageOptions{OldPortal: true, UserID: 9}})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, `"multiple":true`)
	assert.NotContains(t, body, `"</script><b>"`, "values are escaped inside the script")
	require.Len(t, fa.calls, 1)
	assert.Equal(t, "edit", fa.calls[0].Field.Mode)
	_, err := fa.app.Store.Load(context.Background(), bitrix24.TokenKey{MemberID: fa.srv.MemberID(), UserID: 9})
	require.NoError(t, err, "the user's pair is stored")
}

func TestFieldTypeHandlerRefusals(t *testing.T) {
	fa := newFieldApp(t)
	ctx := context.Background()
	withForm := func(mutate func(url.Values)) *http.Request {
		req, err := fa.srv.UserFieldRequest(ctx, fa.url, bitrix24test.UserFieldOptions{Mode: "edit"})
		require.NoError(t, err)
		body, _ := io.ReadAll(req.Body)
		form, err := url.ParseQuery(string(body))
		require.NoError(t, err)
		mutate(form)
		out, err := http.NewRequest(http.MethodPost, req.URL.String(), strings.NewReader(form.Encode()))
		require.NoError(t, err)
		out.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return out
	}
	cases := map[string]struct {
		req    *http.Request
		status int
	}{
		"forged token":     {withForm(func(f url.Values) { f.Set("AUTH_ID", "f0rgedAcc3ssToken") }), http.StatusUnauthorized},
		"no token":         {withForm(func(f url.Values) { f.Set("AUTH_ID", "") }), http.StatusUnauthorized},
		"other member":     {withForm(func(f url.Values) { f.Set("member_id", "0therMember") }), http.StatusForbidden},
		"not a field page": {withForm(func(f url.Values) { f.Set("PLACEMENT", "DEFAULT") }), http.StatusBadRequest},
		"bad options":      {withForm(func(f url.Values) { f.Set("PLACEMENT_OPTIONS", "{") }), http.StatusBadRequest},
		"bad mode":         {withForm(func(f url.Values) { f.Set("PLACEMENT_OPTIONS", `{"MODE":"x"}`) }), http.StatusBadRequest},
		"no member":        {withForm(func(f url.Values) { f.Del("member_id") }), http.StatusBadRequest},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp, _ := fa.do(t, c.req)
			assert.Equal(t, c.status, resp.StatusCode)
		})
	}
	// Another domain than the portal's.
	req := withForm(func(url.Values) {})
	q := req.URL.Query()
	q.Set("DOMAIN", "evil.example.test")
	req.URL.RawQuery = q.Encode()
	resp, _ := fa.do(t, req)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	noAccess, err := fa.srv.UserFieldRequest(ctx, fa.url, bitrix24test.UserFieldOptions{Page: bitrix24test.PageOptions{NoAccess: true}})
	require.NoError(t, err)
	resp, _ = fa.do(t, noAccess)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	assert.Empty(t, fa.calls, "no render for a refused request")
	for _, uid := range []int{0, 1} {
		_, err := fa.app.Store.Load(ctx, bitrix24.TokenKey{MemberID: fa.srv.MemberID(), UserID: uid})
		require.ErrorIs(t, err, bitrix24.ErrTokenNotFound, "refusals store nothing")
	}
}

func TestFieldTypeHandlerRenderFailures(t *testing.T) {
	fa := newFieldApp(t)
	fa.fail = errors.New("panic")
	resp, body := fa.open(t, bitrix24test.UserFieldOptions{})
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.NotContains(t, body, "render exploded")
	fa.mu.Lock()
	fa.fail = errors.New("database down")
	fa.mu.Unlock()
	resp, body = fa.open(t, bitrix24test.UserFieldOptions{})
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.NotContains(t, body, "database down")
}

func TestFieldTypeHandlerPlainValues(t *testing.T) {
	app, srv := newAppPortal(t)
	ts := httptest.NewServer(&bitrix24.FieldTypeHandler{App: app, View: bitrix24.PlainValues, Edit: bitrix24.PlainValues})
	defer ts.Close()
	req, err := srv.UserFieldRequest(context.Background(), ts.URL, bitrix24test.UserFieldOptions{Values: []string{"<b>5</b>"}})
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "&lt;b&gt;5&lt;/b&gt;")
}
