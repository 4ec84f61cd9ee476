// Package bitrix24test runs an in-process fake Bitrix24 portal, together with its
// OAuth token endpoint, for integration tests, in the manner of net/http/httptest.
//
// The fake follows the wire behaviour of the real server's source (module rest,
// CRestServer/CRestProvider), not an idealised reading of the documentation: error
// codes, descriptions and HTTP statuses, the pipeline order (method lookup before
// authentication), PHP's JSON quirks (an empty map is [], keys 0..n-1 make a list,
// "\u0027"-style escaping), the leaky-bucket QUERY_LIMIT_EXCEEDED (503) and the
// per-method OPERATION_TIME_LIMIT (429).
//
// It implements user.option.get/set, app.option.get/set, userfieldtype.add/update/
// list/delete, batch, scope, methods, server.time and profile, for one installed
// application (more with [Server.InstallApp]) and one inbound webhook of user 1.
//
//	srv := bitrix24test.NewServer()
//	defer srv.Close()
//	client, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()))
//
// Every method of *Server is safe for concurrent use.
//
// # Pipeline
//
// Each /rest/ request goes through: fault injection ([Server.InjectFault]), the
// portal's leaky bucket (QUERY_LIMIT_EXCEEDED), the transport suffix, PORTAL_DELETED,
// method lookup (ERROR_METHOD_NOT_FOUND, before authentication), authentication with
// the scope check, the operating-time check (OPERATION_TIME_LIMIT), then the method.
//
// # Choices where the real server is not fully known
//
//   - ".xml" answers 500 INTERNAL_WRONG_TRANSPORT "Wrong transport!" (the fake does not
//     speak XML).
//   - Webhook credentials in the path win over a token; without a token, aplogin/ap
//     query or body parameters work like the path. aplogin must be the numeric user id.
//   - invalid_token says "The access token provided is invalid". The token endpoint
//     answers invalid_request (400) for a grant type other than refresh_token,
//     invalid_client (401) for an unknown client or wrong secret, invalid_grant (400)
//     for an unknown, used or foreign refresh token. A refreshed pair replaces the old
//     refresh token at once; the old access token works until it expires.
//   - The ORM texts after "Error: " (TITLE over 255 characters, TITLE missing in the
//     update quirk) are the fake's own; only the "Error: " prefix is the server's.
//   - A PHP TypeError (e.g. "options" sent as a string) answers 500 with an HTML body.
//   - Go maps have no order: JSON objects the fake builds from them list integer keys
//     first, then the others sorted. Envelopes, list items and batch sections keep PHP's
//     order. Batch commands run in the order they were sent (recovered from the raw
//     JSON or form body).
//   - Option values are stored as received: strings from form data, JSON types from JSON
//     bodies (numbers as json.Number in [Server.UserOptions]).
//   - The batch substitution applies to parameter values, not keys; "$RESULT[...]" (upper
//     case) matches but finds no section, as in the source.
//   - [Server.SetAppBlocked] blocks every application and webhook of the portal.
package bitrix24test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/b24go/bitrix24"
)

// Defaults of the fake portal.
const (
	// DefaultScope is the scope of the installed application's tokens.
	DefaultScope = "placement,user"
	// DefaultWebhookScope is the scope of the inbound webhook of user 1.
	DefaultWebhookScope = "placement,user"
	// DefaultRateLimit and DefaultBurst are the standard plan's leaky bucket.
	DefaultRateLimit = 2.0
	DefaultBurst     = 50
	// DefaultOperationTimeLimit is the cloud's per-method operating time in 10 minutes.
	DefaultOperationTimeLimit = 480 * time.Second
	// DefaultTokenLifetime is the access token lifetime.
	DefaultTokenLifetime = time.Hour
)

// config collects the options.
type config struct {
	rate          float64
	burst         int
	opLimit       time.Duration
	tokenLifetime time.Duration
	scope         string
	webhookScope  string
	plainHTTP     bool
	now           func() time.Time
	statuses      map[string]int // lower-cased code -> HTTP status
}

// Option configures a [Server].
type Option func(*config)

// WithRateLimit sets the portal's leaky bucket: the counter grows by one per REST
// request, drains at perSecond, and a request that would push it above burst is refused
// with 503 QUERY_LIMIT_EXCEEDED. perSecond <= 0 disables the limit. The default is the
// standard plan, 2/s with burst 50 (Enterprise is 5/s, 250).
func WithRateLimit(perSecond float64, burst int) Option {
	return func(c *config) {
		c.rate = perSecond
		if burst < 1 {
			burst = 1
		}
		c.burst = burst
	}
}

// WithOperationTimeLimit sets the operating time a method may use per application or
// webhook in the rolling 10 minutes before OPERATION_TIME_LIMIT (default 480 s).
// limit <= 0 disables the limiter (no "operating" in the time object either).
func WithOperationTimeLimit(limit time.Duration) Option {
	return func(c *config) { c.opLimit = limit }
}

// WithTokenLifetime sets the lifetime of issued access tokens (default 1 h).
func WithTokenLifetime(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.tokenLifetime = d
		}
	}
}

// WithScope sets the scope of the installed application's tokens, a comma-separated
// list such as "placement,user" (the default, [DefaultScope]). user.option.*,
// app.option.*, batch and the other _global methods need no scope; userfieldtype.*
// needs "placement".
func WithScope(scope string) Option {
	return func(c *config) { c.scope = normalizeScope(scope) }
}

// WithWebhookScope sets the scope of the default inbound webhook ([DefaultWebhookScope]).
func WithWebhookScope(scope string) Option {
	return func(c *config) { c.webhookScope = normalizeScope(scope) }
}

// WithPlainHTTP serves http:// instead of https://. Webhook calls then fail with
// INVALID_REQUEST "Https required." like on a real portal; OAuth calls still work.
func WithPlainHTTP() Option {
	return func(c *config) { c.plainHTTP = true }
}

// WithClock replaces time.Now for token expiry, the leaky bucket, the operating-time
// buckets and the time fields of answers.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithSystemErrorStatus changes the HTTP status the fake sends with a system error code
// (matched case-insensitively), e.g. WithSystemErrorStatus("OVERLOAD_LIMIT", 503) to
// mimic the documentation instead of the source. It applies to NO_AUTH_FOUND,
// INVALID_REQUEST, INVALID_CREDENTIALS, OVERLOAD_LIMIT, ACCESS_DENIED (the plan gate
// only), invalid_token, expired_token, insufficient_scope, user_access_error,
// PORTAL_DELETED, ERROR_METHOD_NOT_FOUND, QUERY_LIMIT_EXCEEDED, OPERATION_TIME_LIMIT and
// INTERNAL_WRONG_TRANSPORT.
func WithSystemErrorStatus(code string, status int) Option {
	return func(c *config) {
		if status >= 100 && status <= 999 {
			c.statuses[strings.ToLower(code)] = status
		}
	}
}

func normalizeScope(scope string) string {
	var out []string
	for _, p := range strings.Split(scope, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

type user struct {
	id     int
	admin  bool
	denied bool
}

type app struct {
	id       int
	clientID string
	secret   string
	scope    string
	grants   map[int]*grant // current pair per portal user
}

type grant struct {
	access, refresh string
	expires         time.Time
}

type accessToken struct {
	app     *app
	userID  int
	expires time.Time
	expired bool // ExpireAccessToken
}

type refreshToken struct {
	app    *app
	userID int
}

type webhook struct {
	id     int
	userID int
	code   string
	scope  string
}

// Server is a running fake portal. Create it with [NewServer] and stop it with
// [Server.Close].
type Server struct {
	// URL is the portal's base URL, https://127.0.0.1:<port> (http:// with
	// [WithPlainHTTP]), without a trailing slash.
	URL string

	ts        *httptest.Server
	cfg       config
	done      chan struct{} // closed by Close: ends fault delays
	closeOnce sync.Once

	mu          sync.Mutex
	transports  []*http.Transport
	memberID    string
	users       map[int]*user
	apps        map[string]*app
	mainApp     *app
	webhooks    map[string]*webhook
	mainHook    *webhook
	access      map[string]*accessToken
	refresh     map[string]*refreshToken
	userOptions map[optKey]map[string]any
	appOptions  map[string]map[string]any
	ufTypes     []*ufType
	crm         crmStore // crm.item.list (methods_crm.go)

	portalDeleted bool
	appBlocked    bool
	commercial    bool
	methodCost    map[string]time.Duration

	bucket  leakyBucket
	limiter opLimiter

	faults    []*faultEntry
	requests  map[string]int
	calls     map[string]int
	total     int
	last      map[string]Request
	refusals  int
	refreshes int
}

type optKey struct {
	clientID string
	userID   int
}

// NewServer starts a fake portal over TLS on 127.0.0.1 with one installed application
// (see [Server.OAuthConfig]), an inbound webhook of user 1 ([Server.WebhookURL]) and
// user 1, an administrator. Stop it with Close.
func NewServer(opts ...Option) *Server {
	cfg := config{
		rate:          DefaultRateLimit,
		burst:         DefaultBurst,
		opLimit:       DefaultOperationTimeLimit,
		tokenLifetime: DefaultTokenLifetime,
		scope:         DefaultScope,
		webhookScope:  DefaultWebhookScope,
		now:           time.Now,
		statuses:      map[string]int{},
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	s := &Server{
		cfg:         cfg,
		done:        make(chan struct{}),
		memberID:    randString(32, hexDigits),
		users:       map[int]*user{1: {id: 1, admin: true}},
		apps:        map[string]*app{},
		webhooks:    map[string]*webhook{},
		access:      map[string]*accessToken{},
		refresh:     map[string]*refreshToken{},
		userOptions: map[optKey]map[string]any{},
		appOptions:  map[string]map[string]any{},
		commercial:  true,
		methodCost:  map[string]time.Duration{},
		requests:    map[string]int{},
		calls:       map[string]int{},
		last:        map[string]Request{},
	}
	s.limiter.entries = map[limiterKey]*limiterEntry{}
	s.mainApp = s.installAppLocked(cfg.scope)
	s.issueLocked(s.mainApp, 1)
	s.mainHook = s.addWebhookLocked(1, cfg.webhookScope)

	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	// Known before the first request can arrive (handlers read it).
	if cfg.plainHTTP {
		s.URL = "http://" + s.ts.Listener.Addr().String()
		s.ts.Start()
	} else {
		s.URL = "https://" + s.ts.Listener.Addr().String()
		s.ts.StartTLS()
	}
	return s
}

// Close shuts the server down and closes the idle connections of every client made by
// [Server.Client].
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
	s.ts.Close()
	s.mu.Lock()
	trs := s.transports
	s.transports = nil
	s.mu.Unlock()
	for _, tr := range trs {
		tr.CloseIdleConnections()
	}
}

// Client returns a new *http.Client, with its own transport, that trusts the server's
// certificate.
func (s *Server) Client() *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     30 * time.Second,
	}
	if !s.cfg.plainHTTP {
		pool := x509.NewCertPool()
		pool.AddCert(s.ts.Certificate())
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	s.mu.Lock()
	s.transports = append(s.transports, tr)
	s.mu.Unlock()
	return &http.Client{Transport: tr}
}

// Certificate returns the server's TLS certificate (nil with [WithPlainHTTP]).
func (s *Server) Certificate() *x509.Certificate {
	if s.cfg.plainHTTP {
		return nil
	}
	return s.ts.Certificate()
}

// RESTURL is URL + "/rest/", the portal's client_endpoint.
func (s *Server) RESTURL() string { return s.URL + "/rest/" }

// TokenURL is URL + "/oauth/token/", the fake's authorization server endpoint.
func (s *Server) TokenURL() string { return s.URL + "/oauth/token/" }

// MemberID is the portal's member_id.
func (s *Server) MemberID() string { return s.memberID }

// WebhookURL returns the inbound webhook of portal user 1 (an administrator):
// URL + "/rest/1/<code>/", the code being 16 random characters [a-z0-9].
func (s *Server) WebhookURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhookURL(s.mainHook)
}

func (s *Server) webhookURL(h *webhook) string {
	return s.URL + "/rest/" + strconv.Itoa(h.userID) + "/" + h.code + "/"
}

// AddWebhook creates another inbound webhook for userID (added as a non-admin user when
// unknown) with the given scope and returns its URL.
func (s *Server) AddWebhook(userID int, scope string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureUserLocked(userID)
	return s.webhookURL(s.addWebhookLocked(userID, normalizeScope(scope)))
}

func (s *Server) addWebhookLocked(userID int, scope string) *webhook {
	h := &webhook{id: len(s.webhooks) + 1, userID: userID, code: randString(16, lowerAlnum), scope: scope}
	s.webhooks[h.code] = h
	return h
}

// OAuthConfig returns the installed application for user 1 (an administrator):
// PortalURL is s.URL, TokenURL s.TokenURL(), Token the current pair (it changes after
// each refresh).
func (s *Server) OAuthConfig() bitrix24.OAuthConfig {
	return s.OAuthConfigForUser(1)
}

// OAuthConfigForUser is OAuthConfig for another portal user of the installed
// application. An unknown user is added as a non-admin.
func (s *Server) OAuthConfigForUser(id int) bitrix24.OAuthConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oauthConfigLocked(s.mainApp, id)
}

// OAuthConfigForApp is OAuthConfig for application clientID (see [Server.InstallApp])
// and a portal user. ok is false for an unknown clientID.
func (s *Server) OAuthConfigForApp(clientID string, userID int) (cfg bitrix24.OAuthConfig, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[clientID]
	if a == nil {
		return bitrix24.OAuthConfig{}, false
	}
	return s.oauthConfigLocked(a, userID), true
}

// InstallApp installs another application with the given scope and returns its
// configuration for user 1. Applications share the portal (USER_TYPE_ID is unique
// portal-wide) but not their options.
func (s *Server) InstallApp(scope string) bitrix24.OAuthConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.installAppLocked(normalizeScope(scope))
	return s.oauthConfigLocked(a, 1)
}

func (s *Server) installAppLocked(scope string) *app {
	a := &app{
		id:       len(s.apps) + 1,
		clientID: "local." + randString(14, hexDigits) + "." + randString(8, "0123456789"),
		secret:   randString(50, alnum),
		scope:    scope,
		grants:   map[int]*grant{},
	}
	s.apps[a.clientID] = a
	return a
}

func (s *Server) oauthConfigLocked(a *app, userID int) bitrix24.OAuthConfig {
	s.ensureUserLocked(userID)
	g := a.grants[userID]
	if g == nil {
		g = s.issueLocked(a, userID)
	}
	return bitrix24.OAuthConfig{
		PortalURL:    s.URL,
		ClientID:     a.clientID,
		ClientSecret: a.secret,
		Token:        s.tokenOf(a, userID, g),
		TokenURL:     s.TokenURL(),
	}
}

func (s *Server) tokenOf(a *app, userID int, g *grant) bitrix24.Token {
	return bitrix24.Token{
		AccessToken:    g.access,
		RefreshToken:   g.refresh,
		Expiry:         g.expires,
		Scope:          a.scope,
		MemberID:       s.memberID,
		ClientEndpoint: s.RESTURL(),
		ServerEndpoint: s.RESTURL(),
		UserID:         userID,
	}
}

// issueLocked creates a new pair for (a, userID) and makes it current.
func (s *Server) issueLocked(a *app, userID int) *grant {
	g := &grant{
		access:  randString(32, lowerAlnum),
		refresh: randString(32, lowerAlnum),
		expires: s.cfg.now().Add(s.cfg.tokenLifetime).Truncate(time.Second),
	}
	s.access[g.access] = &accessToken{app: a, userID: userID, expires: g.expires}
	s.refresh[g.refresh] = &refreshToken{app: a, userID: userID}
	a.grants[userID] = g
	return g
}

// Token returns the installed application's current pair for user 1. It rotates after
// each successful refresh.
func (s *Server) Token() bitrix24.Token {
	return s.OAuthConfig().Token
}

// ExpireAccessToken makes the current access token of user 1 answer expired_token from
// now on (a refresh then issues a working one).
func (s *Server) ExpireAccessToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.mainApp.grants[1]; g != nil {
		s.access[g.access].expired = true
	}
}

// ExpireToken makes the given access token answer expired_token from now on. It
// reports whether the token is known.
func (s *Server) ExpireToken(accessToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.access[accessToken]
	if t == nil {
		return false
	}
	t.expired = true
	return true
}

// AddUser adds (or changes) portal user id.
func (s *Server) AddUser(id int, admin bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.ensureUserLocked(id)
	u.admin = admin
}

func (s *Server) ensureUserLocked(id int) *user {
	u := s.users[id]
	if u == nil {
		u = &user{id: id}
		s.users[id] = u
	}
	return u
}

// DenyUserAccess makes OAuth calls acting for user id answer user_access_error
// ("The user does not have access to the application.").
func (s *Server) DenyUserAccess(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureUserLocked(id).denied = true
}

// SetPortalDeleted makes every REST call answer 403 PORTAL_DELETED (before method
// lookup), or restores the portal.
func (s *Server) SetPortalDeleted(deleted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.portalDeleted = deleted
}

// SetAppBlocked blocks (or unblocks) every application and webhook of the portal by hand,
// as support does: calls answer OVERLOAD_LIMIT "REST API is blocked due to overload.".
func (s *Server) SetAppBlocked(blocked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appBlocked = blocked
}

// SetCommercialPlan switches the portal's plan. On a non-commercial plan (false) REST
// calls answer ACCESS_DENIED "REST is available only on commercial plans." (webhooks:
// "...only by subscription."). The default is true.
func (s *Server) SetCommercialPlan(commercial bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commercial = commercial
}

// SetMethodCost makes each call of method (case-insensitive) count d of operating time
// toward OPERATION_TIME_LIMIT, without sleeping. 0 removes the cost.
func (s *Server) SetMethodCost(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := strings.ToLower(method)
	if d <= 0 {
		delete(s.methodCost, m)
		return
	}
	s.methodCost[m] = d
}

// status returns the configured HTTP status of a system error code.
func (s *Server) status(code string, def int) int {
	if st, ok := s.cfg.statuses[strings.ToLower(code)]; ok {
		return st
	}
	return def
}

func (s *Server) sysErr(def int, code, desc string) *restError {
	return newErr(s.status(code, def), code, desc)
}

const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

func randString(n int, alphabet string) string {
	var b strings.Builder
	max := big.NewInt(int64(len(alphabet)))
	for i := 0; i < n; i++ {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		b.WriteByte(alphabet[v.Int64()])
	}
	return b.String()
}
