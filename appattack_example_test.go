package bitrix24_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// A portal whose authorization server is another one than oauth.bitrix.info (as
// oauth.bitrix24.tech is for some regions): the App trusts it through AuthServers, and
// refreshes the portal's pair there. A user of the app who forges ONAPPUNINSTALL gets
// 403; the portal's own uninstall, after it revoked the tokens, forgets the portal.
func ExampleApp_authServers() {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	second := srv.AddAuthServer()
	srv.UseAuthServer(second)

	app := srv.App() // its token endpoint and app.info: the fake's
	app.Store = bitrix24.NewMemoryTokenStore()
	app.AuthServers = []string{second.ServerEndpoint()}
	events := httptest.NewServer(&bitrix24.EventHandler{App: app})
	defer events.Close()
	ctx := context.Background()

	status, _ := srv.SendInstall(ctx, nil, events.URL)
	pair, _ := app.Store.Load(ctx, bitrix24.TokenKey{MemberID: srv.MemberID()})
	fmt.Println("install:", status, pair.ServerEndpoint == second.ServerEndpoint())

	status, _ = srv.SendEvent(ctx, nil, events.URL, srv.ForgeEvent("ONAPPUNINSTALL", 5))
	fmt.Println("forged uninstall:", status)

	srv.Uninstall()
	status, _ = srv.SendUninstall(ctx, nil, events.URL)
	_, err := app.Client(ctx, bitrix24.TokenKey{MemberID: srv.MemberID()})
	fmt.Println("uninstall:", status, err != nil)
	// Output:
	// install: 200 true
	// forged uninstall: 403
	// uninstall: 200 true
}
