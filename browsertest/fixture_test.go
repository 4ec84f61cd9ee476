package browsertest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/stretchr/testify/require"
)

// fixture is a fake portal (bitrix24test over HTTPS on loopback), an application
// server (HTTPS on loopback) and a Chromium that trusts both.
type fixture struct {
	t         *testing.T
	ctx       context.Context
	srv       *bitrix24test.Server
	app       *bitrix24.App
	appServer *httptest.Server
	appURL    string
	browser   *browser
}

// newFixture starts the three; routes gives the application's handler.
func newFixture(t *testing.T, routes func(app *bitrix24.App, appURL string) http.Handler) *fixture {
	t.Helper()
	chromiumPath(t) // skip (or fail in CI) before starting anything
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	srv := bitrix24test.New(t)
	app := srv.App(
		bitrix24.WithTimeout(10*time.Second),
		bitrix24.WithRateLimit(0, 0),
		bitrix24.WithRetry(2, 10*time.Millisecond, 100*time.Millisecond),
	)
	appServer := httptest.NewUnstartedServer(nil)
	appURL := "https://" + appServer.Listener.Addr().String()
	appServer.Config.Handler = routes(app, appURL)
	appServer.StartTLS()
	t.Cleanup(appServer.Close)
	f := &fixture{t: t, ctx: ctx, srv: srv, app: app, appServer: appServer, appURL: appURL}
	f.browser = newBrowser(t, appURL, appServer.Certificate(), srv.Certificate())
	return f
}

// install posts ONAPPINSTALL to the application's /install, as the portal does.
func (f *fixture) install() {
	f.t.Helper()
	status, err := f.srv.SendInstall(f.ctx, f.appServer.Client(), f.appURL+"/install")
	require.NoError(f.t, err)
	require.Equal(f.t, http.StatusOK, status, "install")
}

// fieldRequest is the placement POST of the field for o, as bitrix24test builds it.
func (f *fixture) fieldRequest(o bitrix24test.UserFieldOptions) *http.Request {
	f.t.Helper()
	req, err := f.srv.UserFieldRequest(f.ctx, f.appURL+"/field", o)
	require.NoError(f.t, err)
	return req
}

// show opens, on the portal's origin, a card page that frames req.
func (f *fixture) show(c card, req *http.Request) {
	f.t.Helper()
	f.showAt(f.srv.URL, c, req)
}

var pageSeq int

// showAt opens a card page that frames req on origin (the portal's or another).
func (f *fixture) showAt(origin string, c card, req *http.Request) {
	f.t.Helper()
	pageSeq++
	f.browser.open(origin+"/crm/lead/details/"+strconv.Itoa(pageSeq)+"/", c.render(f.t, req))
}

// otherOrigin is an https origin on loopback that is not the portal's: the same host on
// a port the test holds until it ends (the browser's requests there are answered by the
// test itself).
func (f *fixture) otherOrigin() string {
	f.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(f.t, err)
	f.t.Cleanup(func() { _ = l.Close() })
	return "https://" + l.Addr().String()
}
