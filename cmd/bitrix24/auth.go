package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/b24go/bitrix24"
)

// app is the application of the settings, or of the fake portal.
func (a *cli) app(needSecret bool) (*bitrix24.App, string, error) {
	if a.fakeMode {
		srv, err := a.startFake()
		if err != nil {
			return nil, "", err
		}
		cfg := srv.OAuthConfig()
		return &bitrix24.App{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: srv.TokenURL(),
			ServerEndpoint: srv.ServerEndpoint(), Options: a.clientOptions()}, srv.URL, nil
	}
	if a.clientID == "" || (needSecret && a.clientSecret == "") {
		need := envClientID
		if needSecret {
			need += " and " + envClientSecret
		}
		return nil, "", usageError{fmt.Errorf("no application: set %s (or the flags)", need)}
	}
	return &bitrix24.App{ClientID: a.clientID, ClientSecret: a.clientSecret, TokenURL: a.tokenURL,
		Options: a.clientOptions()}, a.portalURL, nil
}

func (a *cli) authURLCommand() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "url [--state STATE]",
		Short: "Print the portal page where a user grants the application access",
		Long: `Print the portal's /oauth/authorize/ page for the application (needs the portal URL and
the client id). The portal redirects the user's browser to the application's redirect
URI with code and state: check that state is the one printed here, then run
'bitrix24 auth exchange CODE' within 30 seconds. Without --state a random one is made.`,
		Args: cobra.NoArgs,
		RunE: a.runE(func(*cobra.Command, []string) error {
			app, portal, err := a.app(false)
			if err != nil {
				return err
			}
			if portal == "" {
				return usageError{fmt.Errorf("no portal: set --portal-url or %s", envPortalURL)}
			}
			if state == "" {
				var b [16]byte
				_, _ = rand.Read(b[:])
				state = hex.EncodeToString(b[:])
			}
			u, err := app.AuthorizeURL(portal, state)
			if err != nil {
				return err
			}
			a.note("open the URL as a portal user, check state on the redirect, then run: bitrix24 auth exchange CODE")
			return a.printer().valueOf(struct {
				URL   string `json:"url"`
				State string `json:"state"`
			}{u, state})
		}),
	}
	cmd.Flags().StringVar(&state, "state", "", "the state to expect back on the redirect (default: random)")
	return cmd
}

// exchanged is what auth exchange prints: never a token.
type exchanged struct {
	MemberID       string `json:"member_id"`
	UserID         int    `json:"user_id"`
	Scope          string `json:"scope"`
	Expires        string `json:"expires"`
	ClientEndpoint string `json:"client_endpoint"`
	TokenFile      string `json:"token_file,omitempty"`
}

func (a *cli) authExchangeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "exchange CODE",
		Short: "Trade an authorization code for the token pair and write it into the token file",
		Long: `Trade the code the portal appended to the redirect URI for the application's token pair
(within 30 seconds of the grant) and write it into the token file: 0600, atomically,
under the file's lock. Prints the pair's member id, user, scope, expiry and portal,
never a token.`,
		Args: cobra.ExactArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.context(cmd)
			defer cancel()
			app, portal, err := a.app(true)
			if err != nil {
				return err
			}
			code := args[0]
			var store bitrix24.TokenStore
			path := ""
			if a.fakeMode && a.tokenFile == "" {
				store = bitrix24.NewMemoryTokenStore() // --fake never writes the default file
			} else {
				fs, p, err := a.tokenStore()
				if err != nil {
					return err
				}
				store, path = fs, p
			}
			app.Store = store
			if a.fakeMode && code == "fake" {
				if code, err = a.fakeCode(app, portal); err != nil {
					return err
				}
			}
			tok, err := app.Exchange(ctx, code)
			if err != nil {
				return err
			}
			if tok.ClientEndpoint == "" && portal != "" {
				// Later commands find the portal in the file.
				tok.ClientEndpoint = strings.TrimRight(portal, "/") + "/rest/"
				if err := store.Save(ctx, bitrix24.TokenKey{MemberID: tok.MemberID, UserID: tok.UserID}, tok); err != nil {
					return err
				}
			}
			if path != "" {
				a.note("saved the token pair to %s", path)
			}
			return a.printer().valueOf(exchanged{tok.MemberID, tok.UserID, tok.Scope, expiry(tok), tok.ClientEndpoint, path})
		}),
	}
}

// fakeCode plays the portal's authorization page for user 1 of the fake portal.
func (a *cli) fakeCode(app *bitrix24.App, portal string) (string, error) {
	u, err := app.AuthorizeURL(portal, "fake")
	if err != nil {
		return "", err
	}
	q, err := a.fake.Authorize(u, 1)
	if err != nil {
		return "", err
	}
	return q.Get("code"), nil
}

func (a *cli) authCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "auth",
		Short: "Get an application's token pair into the token file (OAuth)",
		Long: `Get an installed application's token pair (OAuth 2.0 authorization code):

  1. bitrix24 auth url          prints the portal page where a user grants access;
                                the portal then sends the browser to the application's
                                redirect URI with ?code=...&state=...
  2. bitrix24 auth exchange CODE  trades the code (within 30 seconds) for the pair and
                                writes it into the token file (0600, atomically).

Later commands use the pair from the token file and rotate it on every refresh.
With --fake, "auth exchange fake" exchanges a code the fake portal issues on the spot.`,
	}, a.authURLCommand(), a.authExchangeCommand())
}
