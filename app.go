package bitrix24

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/b24go/bitrix24/internal/redact"
)

// DefaultServerEndpoint is the Bitrix24 authorization server's REST base, where
// [App.Verify] calls app.info, used when [App.ServerEndpoint] is empty.
const DefaultServerEndpoint = "https://oauth.bitrix.info/rest/"

// ErrNotVerified means an app request or event could not be shown to come from a portal
// where the application is installed: the authorization server refused its token, the
// token belongs to another application, portal or domain, or the application_token
// does not match. The error also matches the server's sentinel when there is one (for
// example [ErrInvalidToken]).
var ErrNotVerified = errors.New("bitrix24: request not verified")

// errNoAuthID is the refusal of a request without a token to verify.
var errNoAuthID = errors.New("the request has no AUTH_ID (the user may have no access to the application)")

// verifyCacheTTL is how long a positive app.info answer is trusted for the same access
// token: long enough to spare the authorization server a call per page of one visit,
// short enough that a revoked installation is noticed soon.
const verifyCacheTTL = time.Minute

// verifyCacheMax bounds the cache; beyond it, expired entries are dropped, then all.
const verifyCacheMax = 10000

// maxOAuthAnswer caps the answers of the token endpoint and of app.info.
const maxOAuthAnswer = 1 << 20

// Method names used in errors.
const (
	appInfoMethod = "app.info"
)

// App is one Bitrix24 application (its client id and secret) installed on any number of
// portals. It exchanges authorization codes, builds clients from the pairs it stores,
// and verifies the requests portals send to the application's pages
// ([App.Verify], [App.ClientFor], [FieldTypeHandler]) and event handlers
// ([EventHandler]).
//
// Set the exported fields before first use, and do not copy an App after that. An App
// is safe for concurrent use. Its String and GoString methods never print the secret.
type App struct {
	ClientID     string
	ClientSecret string
	// TokenURL is the token endpoint of the pairs of ServerEndpoint's server; empty means
	// [DefaultTokenURL]. Pairs of another trusted server are refreshed at that server's
	// own token endpoint (its REST base minus "rest/" plus "oauth/token/").
	TokenURL string
	// ServerEndpoint is the authorization server's REST base for app.info when a request
	// or event names none (older portals); empty means [DefaultServerEndpoint]. When set,
	// it is trusted as well as AuthServers.
	ServerEndpoint string
	// AuthServers lists the authorization servers this App trusts. The server_endpoint
	// of an event or a page request is used (for app.info and for the token endpoint of
	// that pair) only when it is one of them; anything else is refused. Empty means
	// DefaultAuthServers (ServerEndpoint, when set, is trusted too).
	AuthServers []string
	// Store keeps the pairs, under {MemberID, 0} for an installation and {MemberID,
	// UserID} for a user's pair, and each installation's application_token (see
	// [ApplicationTokenKey]). nil means an in-memory store of this App.
	Store TokenStore
	// Options apply to every request and client of the App (an HTTP client, the
	// timeout, WithAllowHTTP, ...).
	Options []Option

	// state is created on first use. It is a pointer, and App holds no lock, so that
	// printing an App by value goes through String.
	state *appState
}

// appState is what an App keeps between calls.
type appState struct {
	mem TokenStore // the store when Store is nil

	mu       sync.Mutex
	cache    map[[sha256.Size]byte]verifiedToken
	refusals map[[sha256.Size]byte]refusal       // tokens the authorization server refused, briefly
	alive    map[[sha256.Size]byte]time.Time     // stored pairs that worked, until then
	applied  map[[sha256.Size]byte]time.Time     // install and update pairs already stored, until then
	storing  map[[sha256.Size]byte]chan struct{} // install and update pairs being stored, closed when done
	users    map[string]map[int]struct{}         // user pairs saved by this App, per member id
	now      func() time.Time                    // the caches' clock; tests replace it
	verifies chan struct{}                       // one slot per app.info call in flight
	tr       *transport                          // built on first use from Options: one HTTP layer for every call
	o        options
}

// appStateMu guards the creation of App.state, once per App.
var appStateMu sync.Mutex

// String describes the App without revealing the secret.
func (a App) String() string {
	return fmt.Sprintf("bitrix24.App{ClientID:%q ClientSecret:%s TokenURL:%q ServerEndpoint:%q AuthServers:%q}",
		a.ClientID, mask(a.ClientSecret), a.TokenURL, a.ServerEndpoint, a.AuthServers)
}

// GoString is String, so %#v is as safe as %v.
func (a App) GoString() string { return a.String() }

// ApplicationTokenKey is the key under which [EventHandler] keeps an installation's
// application_token in [App.Store]: UserID -1 (no portal user has it), with the token
// in Token.AccessToken so that stores treat it as the secret it is.
func ApplicationTokenKey(memberID string) TokenKey {
	return TokenKey{MemberID: memberID, UserID: -1}
}

// st returns the App's state, creating it on first use.
func (a *App) st() *appState {
	appStateMu.Lock()
	defer appStateMu.Unlock()
	if a.state == nil {
		a.state = &appState{
			mem:      NewMemoryTokenStore(),
			cache:    map[[sha256.Size]byte]verifiedToken{},
			refusals: map[[sha256.Size]byte]refusal{},
			alive:    map[[sha256.Size]byte]time.Time{},
			applied:  map[[sha256.Size]byte]time.Time{},
			storing:  map[[sha256.Size]byte]chan struct{}{},
			users:    map[string]map[int]struct{}{},
			now:      time.Now,
			verifies: make(chan struct{}, maxVerifications),
		}
	}
	return a.state
}

func (a *App) store() TokenStore {
	if a.Store != nil {
		return a.Store
	}
	return a.st().mem
}

// options applies the App's options, then extra.
func (a *App) options(extra ...Option) (options, error) {
	o := defaultOptions()
	for _, opt := range a.Options {
		if opt != nil {
			opt(&o)
		}
	}
	for _, opt := range extra {
		if opt != nil {
			opt(&o)
		}
	}
	return o, o.err
}

// check refuses a nil App or ctx, and an App without its credentials.
func (a *App) check(ctx context.Context, needSecret bool) error {
	switch {
	case a == nil:
		return invalid("App", "must not be nil")
	case ctx == nil:
		return invalid("ctx", "must not be nil")
	case a.ClientID == "":
		return invalid("App.ClientID", "must not be empty")
	case needSecret && a.ClientSecret == "":
		return invalid("App.ClientSecret", "must not be empty")
	}
	return nil
}

// endpoint returns the App's transport and the validated URL of one of its endpoints
// (field, raw and def as for endpointURL). The transport is built once, on first use,
// from Options: verifying a page request must not build an HTTP client each time. Its
// secrets hold the client secret and every token the App has sent.
func (a *App) endpoint(field, raw, def string) (*transport, string, error) {
	st := a.st()
	st.mu.Lock()
	if st.tr == nil {
		o, err := a.options()
		if err != nil {
			st.mu.Unlock()
			return nil, "", err
		}
		secrets := &redact.Secrets{}
		secrets.AddPinned(a.ClientSecret)
		st.tr, st.o = newTransport(o, secrets), o
	}
	tr, allowHTTP := st.tr, st.o.allowHTTP
	st.mu.Unlock()
	u, err := endpointURL(field, raw, def, allowHTTP)
	if err != nil {
		return nil, "", err
	}
	return tr, u, nil
}

// endpointURL validates an absolute endpoint URL of the App (no query: secrets never
// travel in one) and returns it.
func endpointURL(field, raw, def string, allowHTTP bool) (string, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", invalid(field, "must be a valid absolute URL")
	}
	if err := checkBaseURL(field, u, allowHTTP); err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", invalid(field, "must not have a query or fragment")
	}
	return raw, nil
}

// AuthorizeURL is where to send a user so that the portal grants the app a code:
// <portal>/oauth/authorize/?client_id=...&state=... (portalURL as in
// [OAuthConfig.PortalURL]). The portal redirects to the redirect URI of the app's
// settings with code, state, domain, member_id, scope and server_domain; check state,
// then pass code to [App.Exchange] within 30 seconds.
func (a *App) AuthorizeURL(portalURL, state string) (string, error) {
	if a == nil {
		return "", invalid("App", "must not be nil")
	}
	if a.ClientID == "" {
		return "", invalid("App.ClientID", "must not be empty")
	}
	o, err := a.options()
	if err != nil {
		return "", err
	}
	u, err := url.Parse(strings.TrimSpace(portalURL))
	if err != nil || portalURL == "" {
		return "", invalid("portalURL", "must be a valid absolute URL")
	}
	if err := checkBaseURL("portalURL", u, o.allowHTTP); err != nil {
		return "", err
	}
	q := url.Values{"client_id": {a.ClientID}}
	if state != "" {
		q.Set("state", state)
	}
	base := strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/")
	return base + "/oauth/authorize/?" + q.Encode(), nil
}

// Exchange trades a code (the authorization_code grant) for a pair, saves it to Store
// under {MemberID, UserID of the pair} and returns it. When the answer names no user (the
// documented answer does not), the user id comes from app.info on the authorization
// server; if that fails too, the pair is saved with UserID 0. The code and the secret travel
// in a form body, never in a URL. The server's refusals are [*APIError]s
// (ErrInvalidGrant, ErrInvalidClient, ErrExpiredToken for a late code, ...).
func (a *App) Exchange(ctx context.Context, code string) (Token, error) {
	if err := a.check(ctx, true); err != nil {
		return Token{}, err
	}
	code = strings.TrimSpace(code)
	if code == "" {
		return Token{}, invalid("code", "must not be empty")
	}
	tr, tokenURL, err := a.endpoint("App.TokenURL", a.tokenURLFor(a.defaultServer()), DefaultTokenURL)
	if err != nil {
		return Token{}, err
	}
	te := tokenEndpoint{url: tokenURL, clientID: a.ClientID, clientSecret: a.ClientSecret,
		post: tr.postForm, secrets: tr.secrets}
	tok, err := te.exchange(ctx, code)
	if err != nil {
		return Token{}, err
	}
	if tok.MemberID == "" {
		return Token{}, unexpectedAnswer(tr.secrets, refreshMethod, http.StatusOK, "the token answer has no member_id", nil)
	}
	// The pair is refreshed where it was issued: the answer's server, if trusted.
	server, serr := a.serverFor(tok.ServerEndpoint)
	if serr != nil || tok.ServerEndpoint == "" {
		server = a.defaultServer()
	}
	tok.ServerEndpoint = server
	if tok.UserID == 0 {
		// The documented answer names no user: ask the authorization server whose pair
		// this is, so that a user's pair does not land on the installation's key. The
		// code is spent whatever happens, so a failure here keeps UserID 0.
		if info, err := a.appInfo(ctx, server, tok.AccessToken); err == nil && info.MemberID == tok.MemberID {
			tok.UserID = info.UserID
			if tok.ClientEndpoint == "" {
				tok.ClientEndpoint = info.ClientEndpoint
			}
		}
	}
	key := TokenKey{MemberID: tok.MemberID, UserID: tok.UserID}
	if err := a.store().Save(ctx, key, tok); err != nil {
		return Token{}, fmt.Errorf("bitrix24: saving the pair under %v: %w", key, err)
	}
	return tok, nil
}

// jsonInt reads 7 or "7"; anything else is 0.
func jsonInt(raw json.RawMessage) int {
	n, _ := strconv.Atoi(strings.Trim(strings.TrimSpace(string(raw)), `"`))
	return n
}

// Client returns a client for the pair stored under key; every rotation is saved to
// Store. It fails with an error matching [ErrTokenNotFound] when nothing is stored
// there (or the portal was uninstalled).
func (a *App) Client(ctx context.Context, key TokenKey, opts ...Option) (*Client, error) {
	if err := a.check(ctx, true); err != nil {
		return nil, err
	}
	if key.MemberID == "" {
		return nil, invalid("TokenKey.MemberID", "must not be empty")
	}
	tok, err := a.store().Load(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("bitrix24: App.Client: %w", err)
	}
	if tok.AccessToken == "" {
		return nil, fmt.Errorf("bitrix24: App.Client: the pair under %v is empty: %w", key, ErrTokenNotFound)
	}
	return a.newClient(key, tok, opts)
}

// newClient builds a client acting with tok, kept in Store under key.
func (a *App) newClient(key TokenKey, tok Token, opts []Option) (*Client, error) {
	portal := strings.TrimSuffix(strings.TrimRight(tok.ClientEndpoint, "/"), "/rest")
	if portal == "" {
		return nil, invalid("Token.ClientEndpoint", "must be the portal's REST base (the stored pair has none)")
	}
	// The refresh token and the secret go only to a trusted server's token endpoint (a
	// pair stored by an older version may name the server an event claimed).
	server, err := a.serverFor(tok.ServerEndpoint)
	if err != nil {
		server = a.defaultServer()
	}
	st := a.store()
	all := make([]Option, 0, len(a.Options)+len(opts))
	all = append(append(all, a.Options...), opts...)
	return NewOAuthClient(OAuthConfig{
		PortalURL:    portal,
		ClientID:     a.ClientID,
		ClientSecret: a.ClientSecret,
		// The client loads the pair from Store (Token only seeds an empty store), and
		// saves every rotation there under the store's lock.
		Token:    tok,
		TokenURL: a.tokenURLFor(server),
		Store:    st,
		StoreKey: key,
	}, all...)
}
