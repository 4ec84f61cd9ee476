package bitrix24

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/b24go/bitrix24/internal/envelope"
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
	exchangeMethod = "oauth/token"
	appInfoMethod  = "app.info"
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
	// TokenURL is the token endpoint; empty means [DefaultTokenURL].
	TokenURL string
	// ServerEndpoint is the authorization server's REST base for app.info; empty means
	// [DefaultServerEndpoint]. The SERVER_ENDPOINT a request carries is never used for
	// verification: it can be forged.
	ServerEndpoint string
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

	mu    sync.Mutex
	cache map[[sha256.Size]byte]verifiedToken
	users map[string]map[int]struct{} // user pairs saved by this App, per member id
	now   func() time.Time            // the cache's clock; tests replace it
}

// appStateMu guards the creation of App.state, once per App.
var appStateMu sync.Mutex

// verifiedToken is a positive app.info answer, kept until expires.
type verifiedToken struct {
	info    appInfo
	expires time.Time
}

// appInfo is what the authorization server's app.info says about a token.
type appInfo struct {
	ClientID       string
	UserID         int
	MemberID       string
	Domain         string
	ClientEndpoint string
	Status         string
}

// String describes the App without revealing the secret.
func (a App) String() string {
	return fmt.Sprintf("bitrix24.App{ClientID:%q ClientSecret:%s TokenURL:%q ServerEndpoint:%q}",
		a.ClientID, mask(a.ClientSecret), a.TokenURL, a.ServerEndpoint)
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
			mem:   NewMemoryTokenStore(),
			cache: map[[sha256.Size]byte]verifiedToken{},
			users: map[string]map[int]struct{}{},
			now:   time.Now,
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
	o, err := a.options()
	if err != nil {
		return Token{}, err
	}
	tokenURL, err := endpointURL("App.TokenURL", a.TokenURL, DefaultTokenURL, o.allowHTTP)
	if err != nil {
		return Token{}, err
	}
	secrets := &redact.Secrets{}
	secrets.Add(a.ClientSecret, code)
	status, body, err := postForm(ctx, o, tokenURL, url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {a.ClientID},
		"client_secret": {a.ClientSecret},
		"code":          {code},
	})
	if err != nil {
		return Token{}, fmt.Errorf("bitrix24: %s: %w", exchangeMethod, scrub(err, secrets))
	}
	tok, err := decodeGrant(body, status, secrets, time.Now())
	if err != nil {
		return Token{}, err
	}
	if tok.MemberID == "" {
		return Token{}, unexpectedAnswer(exchangeMethod, status, "the token answer has no member_id", body, secrets)
	}
	if tok.UserID == 0 {
		// The documented answer names no user: ask the authorization server whose pair
		// this is, so that a user's pair does not land on the installation's key. The
		// code is spent whatever happens, so a failure here keeps UserID 0.
		if info, err := a.appInfo(ctx, tok.AccessToken); err == nil && info.MemberID == tok.MemberID {
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

// grantAnswer is the token endpoint's JSON; every field but the tokens is optional.
type grantAnswer struct {
	AccessToken    string          `json:"access_token"`
	RefreshToken   string          `json:"refresh_token"`
	Expires        json.RawMessage `json:"expires"`
	ExpiresIn      json.RawMessage `json:"expires_in"`
	Scope          string          `json:"scope"`
	MemberID       string          `json:"member_id"`
	ClientEndpoint string          `json:"client_endpoint"`
	ServerEndpoint string          `json:"server_endpoint"`
	UserID         json.RawMessage `json:"user_id"`
}

// decodeGrant reads a token endpoint answer: a pair, or an [*APIError].
func decodeGrant(body []byte, status int, secrets *redact.Secrets, now time.Time) (Token, error) {
	if _, apiErr, _ := envelope.Decode(body); apiErr != nil {
		return Token{}, &APIError{Code: apiErr.Code, Description: secrets.String(apiErr.Description),
			StatusCode: status, Method: exchangeMethod}
	}
	var ans grantAnswer
	err := json.Unmarshal(body, &ans)
	secrets.Add(ans.AccessToken, ans.RefreshToken)
	if err != nil || ans.AccessToken == "" || ans.RefreshToken == "" || status >= 300 {
		return Token{}, unexpectedAnswer(exchangeMethod, status, "not a token answer", body, secrets)
	}
	tok := Token{
		AccessToken:    ans.AccessToken,
		RefreshToken:   ans.RefreshToken,
		Scope:          ans.Scope,
		MemberID:       ans.MemberID,
		ClientEndpoint: ans.ClientEndpoint,
		ServerEndpoint: ans.ServerEndpoint,
		UserID:         jsonInt(ans.UserID),
	}
	if exp := jsonInt(ans.Expires); exp > 0 {
		tok.Expiry = time.Unix(int64(exp), 0)
	} else if in := jsonInt(ans.ExpiresIn); in > 0 {
		tok.Expiry = now.Add(time.Duration(in) * time.Second)
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
	st := a.store()
	all := make([]Option, 0, len(a.Options)+len(opts))
	all = append(append(all, a.Options...), opts...)
	return NewOAuthClient(OAuthConfig{
		PortalURL:    portal,
		ClientID:     a.ClientID,
		ClientSecret: a.ClientSecret,
		// Token is passed as well as Store: harmless once the client loads from Store.
		Token:    tok,
		TokenURL: a.TokenURL,
		Store:    st,
		StoreKey: key,
		// TODO(lead): drop this hook once the OAuth source saves each rotation to Store
		// itself (under the store's lock); until then it keeps Store current.
		OnTokenRefresh: func(ctx context.Context, t Token) error {
			return st.Save(ctx, key, t)
		},
	}, all...)
}

// Verify checks, through app.info on the authorization server ([App.ServerEndpoint]),
// that the request's AUTH_ID is a live token of this application (client id) for the
// member id and the domain the request claims. Positive answers are cached for a minute
// per token.
//
// It fails with an error matching [ErrNotVerified] when the request is not shown
// genuine (and also the server's sentinel, e.g. [ErrInvalidToken], when the server
// refused the token), [ErrValidation] when the request lacks member_id or DOMAIN, and a
// wrapped transport error or [ErrUnexpectedResponse] when the server could not answer.
func (a *App) Verify(ctx context.Context, r *AppRequest) error {
	_, err := a.verify(ctx, r)
	return err
}

func (a *App) verify(ctx context.Context, r *AppRequest) (appInfo, error) {
	if err := a.check(ctx, false); err != nil {
		return appInfo{}, err
	}
	switch {
	case r == nil:
		return appInfo{}, invalid("AppRequest", "must not be nil")
	case r.Token.MemberID == "":
		return appInfo{}, invalid("AppRequest.Token.MemberID", "must not be empty")
	case r.Domain == "":
		return appInfo{}, invalid("AppRequest.Domain", "must not be empty")
	case r.Token.AccessToken == "":
		return appInfo{}, fmt.Errorf("%w: %w", ErrNotVerified, errNoAuthID)
	}
	return a.verifyToken(ctx, r.Token.AccessToken, r.Token.MemberID, r.Domain)
}

// verifyToken asks app.info about token (or finds a fresh positive answer in the
// cache) and requires this client id, memberID and domain.
func (a *App) verifyToken(ctx context.Context, token, memberID, domain string) (appInfo, error) {
	sum := sha256.Sum256([]byte(token))
	st := a.st()
	st.mu.Lock()
	hit, ok := st.cache[sum]
	now := st.now()
	st.mu.Unlock()
	if ok && now.Before(hit.expires) {
		return hit.info, matchInfo(hit.info, a.ClientID, memberID, domain)
	}
	info, err := a.appInfo(ctx, token)
	if err != nil {
		return appInfo{}, err
	}
	if err := matchInfo(info, a.ClientID, memberID, domain); err != nil {
		return appInfo{}, err
	}
	st.mu.Lock()
	if len(st.cache) >= verifyCacheMax {
		for k, v := range st.cache {
			if !now.Before(v.expires) {
				delete(st.cache, k)
			}
		}
		if len(st.cache) >= verifyCacheMax {
			clear(st.cache)
		}
	}
	st.cache[sum] = verifiedToken{info: info, expires: st.now().Add(verifyCacheTTL)}
	st.mu.Unlock()
	return info, nil
}

// matchInfo compares app.info's answer with what the request claims.
func matchInfo(info appInfo, clientID, memberID, domain string) error {
	switch {
	case info.ClientID != clientID:
		return fmt.Errorf("%w: the token belongs to another application", ErrNotVerified)
	case info.MemberID != memberID:
		return fmt.Errorf("%w: the token belongs to another portal than member_id says", ErrNotVerified)
	case !sameHost(info.Domain, domain):
		return fmt.Errorf("%w: the token's portal is not the domain the request names", ErrNotVerified)
	}
	return nil
}

// sameHost compares host names case-insensitively, ignoring the default ports.
func sameHost(a, b string) bool {
	norm := func(h string) string {
		h = strings.ToLower(strings.TrimSpace(h))
		return strings.TrimSuffix(strings.TrimSuffix(h, ":443"), ":80")
	}
	return a != "" && norm(a) == norm(b)
}

// appInfoWire is the authorization server's app.info result.
type appInfoWire struct {
	ClientID string          `json:"client_id"`
	UserID   json.RawMessage `json:"user_id"`
	Install  struct {
		Domain         string `json:"domain"`
		MemberID       string `json:"member_id"`
		ClientEndpoint string `json:"client_endpoint"`
		Status         string `json:"status"`
	} `json:"install"`
}

// appInfo calls app.info on the authorization server with token, sent in a form body.
func (a *App) appInfo(ctx context.Context, token string) (appInfo, error) {
	o, err := a.options()
	if err != nil {
		return appInfo{}, err
	}
	base, err := endpointURL("App.ServerEndpoint", a.ServerEndpoint, DefaultServerEndpoint, o.allowHTTP)
	if err != nil {
		return appInfo{}, err
	}
	secrets := &redact.Secrets{}
	secrets.Add(token, a.ClientSecret)
	status, body, err := postForm(ctx, o, strings.TrimRight(base, "/")+"/"+appInfoMethod, url.Values{"auth": {token}})
	if err != nil {
		return appInfo{}, fmt.Errorf("bitrix24: %s: %w", appInfoMethod, scrub(err, secrets))
	}
	env, apiErr, derr := envelope.Decode(body)
	switch {
	case apiErr != nil:
		e := &APIError{Code: apiErr.Code, Description: secrets.String(apiErr.Description),
			StatusCode: status, Method: appInfoMethod}
		if refusesToken(e) {
			return appInfo{}, fmt.Errorf("%w: %w", ErrNotVerified, e)
		}
		return appInfo{}, e // the server could not answer (limits, a wrong endpoint, ...)
	case derr != nil:
		return appInfo{}, unexpectedAnswer(appInfoMethod, status, derr.Error(), body, secrets)
	case status >= 300:
		return appInfo{}, unexpectedAnswer(appInfoMethod, status, "a result with an error status", body, secrets)
	}
	var w appInfoWire
	if err := json.Unmarshal(env.Result, &w); err != nil || w.ClientID == "" || w.Install.MemberID == "" {
		// The portal's own app.info has neither: ServerEndpoint points at a portal.
		return appInfo{}, unexpectedAnswer(appInfoMethod, status,
			"no client_id and install.member_id: is ServerEndpoint the authorization server?", body, secrets)
	}
	return appInfo{
		ClientID:       w.ClientID,
		UserID:         jsonInt(w.UserID),
		MemberID:       w.Install.MemberID,
		Domain:         w.Install.Domain,
		ClientEndpoint: w.Install.ClientEndpoint,
		Status:         w.Install.Status,
	}, nil
}

// verifyEventToken checks an install or update event's access token with app.info
// against the event's member id and domain.
func (a *App) verifyEventToken(ctx context.Context, ev *Event) (appInfo, error) {
	if ev.Auth.Domain == "" {
		return appInfo{}, invalid("auth[domain]", "must not be empty")
	}
	return a.verifyToken(ctx, ev.Auth.Token.AccessToken, ev.Auth.Token.MemberID, ev.Auth.Domain)
}

// isAdmin asks the portal (at the client_endpoint app.info named, or the verified
// domain) whether token's user is an administrator (user.admin).
func (a *App) isAdmin(ctx context.Context, info appInfo, token string) (bool, error) {
	endpoint := info.ClientEndpoint
	if endpoint == "" {
		endpoint = "https://" + info.Domain + "/rest/"
	}
	portal := strings.TrimSuffix(strings.TrimRight(endpoint, "/"), "/rest")
	c, err := NewOAuthClient(OAuthConfig{PortalURL: portal, ClientID: a.ClientID, ClientSecret: a.ClientSecret,
		Token: Token{AccessToken: token}, TokenURL: a.TokenURL}, a.Options...)
	if err != nil {
		return false, err
	}
	var admin bool
	if err := c.Call(ctx, "user.admin", nil, &admin); err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && refusesToken(apiErr) {
			return false, fmt.Errorf("%w: %w", ErrNotVerified, err)
		}
		return false, err
	}
	return admin, nil
}

// refusesToken reports the app.info errors that say the token is no good (rather than
// that the server could not answer).
func refusesToken(e *APIError) bool {
	for _, target := range []error{ErrInvalidToken, ErrExpiredToken, ErrNoAuthFound, ErrUserAccess,
		ErrInvalidClient, ErrAccessDenied, ErrPortalDeleted, ErrWrongAuthType} {
		if e.Is(target) {
			return true
		}
	}
	return false
}

// ClientFor verifies r ([App.Verify]), saves the calling user's pair under {MemberID,
// UserID} (the user id comes from the authorization server), and returns a client
// acting as that user: user.option.* then stores that user's settings. The client
// calls the portal at the client_endpoint the authorization server names, not at the
// request's DOMAIN.
func (a *App) ClientFor(ctx context.Context, r *AppRequest, opts ...Option) (*Client, error) {
	info, err := a.verify(ctx, r)
	if err != nil {
		return nil, err
	}
	if info.UserID <= 0 {
		return nil, &UnexpectedResponseError{Method: appInfoMethod, StatusCode: http.StatusOK,
			Reason: "app.info named no user_id for the token"}
	}
	tok := r.Token
	tok.UserID = info.UserID
	if info.ClientEndpoint != "" {
		tok.ClientEndpoint = info.ClientEndpoint
	} else {
		tok.ClientEndpoint = r.PortalURL() + "/rest/"
	}
	// The request's SERVER_ENDPOINT is not trusted: keep the App's.
	tok.ServerEndpoint = a.ServerEndpoint
	if tok.ServerEndpoint == "" {
		tok.ServerEndpoint = DefaultServerEndpoint
	}
	key := TokenKey{MemberID: tok.MemberID, UserID: info.UserID}
	if err := a.store().Save(ctx, key, tok); err != nil {
		return nil, fmt.Errorf("bitrix24: saving the pair under %v: %w", key, err)
	}
	st := a.st()
	st.mu.Lock()
	if st.users[key.MemberID] == nil {
		st.users[key.MemberID] = map[int]struct{}{}
	}
	st.users[key.MemberID][key.UserID] = struct{}{}
	st.mu.Unlock()
	return a.newClient(key, tok, opts)
}

// forget removes what the App stores for memberID: the installation's pair, its
// application_token and the user pairs this App saved. Stores with a
// Delete(ctx, TokenKey) method (such as [MemoryTokenStore]) delete them; on others
// they are overwritten with an empty pair, which [App.Client] treats as not found.
func (a *App) forget(ctx context.Context, memberID string) error {
	keys := []TokenKey{{MemberID: memberID}, ApplicationTokenKey(memberID)}
	state := a.st()
	state.mu.Lock()
	for uid := range state.users[memberID] {
		keys = append(keys, TokenKey{MemberID: memberID, UserID: uid})
	}
	delete(state.users, memberID)
	for k, v := range state.cache {
		if v.info.MemberID == memberID {
			delete(state.cache, k)
		}
	}
	state.mu.Unlock()
	st := a.store()
	var errs []error
	for _, k := range keys {
		var err error
		if d, ok := st.(interface {
			Delete(context.Context, TokenKey) error
		}); ok {
			err = d.Delete(ctx, k)
		} else {
			err = st.Save(ctx, k, Token{MemberID: memberID})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("bitrix24: forgetting %v: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// postForm posts form to endpoint with the App's HTTP client and reads at most
// maxOAuthAnswer bytes of the answer. Redirects are not followed: the form holds secrets.
//
// TODO(lead): route through transport.go.
func postForm(ctx context.Context, o options, endpoint string, form url.Values) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	hc := &http.Client{}
	if o.httpClient != nil {
		copied := *o.httpClient
		hc = &copied
	}
	hc.Timeout = o.timeout
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOAuthAnswer+1))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > maxOAuthAnswer {
		return resp.StatusCode, nil, &UnexpectedResponseError{StatusCode: resp.StatusCode,
			Reason: fmt.Sprintf("body exceeds %d bytes", maxOAuthAnswer)}
	}
	return resp.StatusCode, body, nil
}

// unexpectedAnswer is an [*UnexpectedResponseError] with a short, redacted snippet.
func unexpectedAnswer(method string, status int, reason string, body []byte, secrets *redact.Secrets) error {
	const max = 256
	if len(body) > max {
		body = body[:max]
	}
	return &UnexpectedResponseError{
		Method:     method,
		StatusCode: status,
		Reason:     secrets.String(reason),
		Snippet:    strings.ToValidUTF8(secrets.String(string(bytes.TrimSpace(body))), "?"),
	}
}

// scrub hides any secret in err's text while keeping its chain for errors.Is and As.
func scrub(err error, secrets *redact.Secrets) error {
	if msg := err.Error(); secrets.String(msg) != msg {
		return &scrubbedError{msg: secrets.String(msg), err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
