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
	"testing"
	"time"

	"github.com/b24go/bitrix24"
)

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
	expired bool        // ExpireAccessToken
	server  *AuthServer // the authorization server that issued it; nil: the portal's own
}

type refreshToken struct {
	app     *app
	userID  int
	expires time.Time
	server  *AuthServer
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

	mu         sync.Mutex
	transports []*http.Transport
	tb         testing.TB // set by New: NewClient fails the test instead of panicking
	portal                // what Snapshot and Restore save and bring back
	custom     map[string]methodDef

	faults    []*faultEntry
	faulted   int // faults applied ([Server.FaultsApplied])
	requests  map[string]int
	calls     map[string]int
	total     int
	last      map[string]*Request
	log       []*Request
	refusals  int
	opRefused int // OPERATION_TIME_LIMIT answers, batch commands included (operating.go)
	refreshes int
	appSide   portalSide // the application side: codes, application tokens (portal_app.go)

	authServers []*AuthServer // started by AddAuthServer (authservers.go)
	authServer  *AuthServer   // where pairs are issued now; nil: the portal's own
}

// portal is the fake portal's state: its users, applications, tokens, stored data, the
// switches of the admin controls and the rate limiters.
type portal struct {
	memberID    string
	users       map[int]*user
	apps        map[string]*app
	mainApp     *app
	webhooks    map[string]*webhook
	mainHook    *webhook
	access      map[string]*accessToken
	refresh     map[string]*refreshToken
	userOptions map[optKey]*omap
	appOptions  map[string]*omap
	ufTypes     []*ufType
	crm         crmStore   // crm.item.* (methods_crm.go, methods_crmwrite.go)
	events      eventStore // event bindings and the offline queue (methods_event.go)

	portalDeleted bool
	appBlocked    bool
	commercial    bool
	methodCost    map[string]time.Duration

	bucket  leakyBucket
	limiter opLimiter
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
		rate:            DefaultRateLimit,
		burst:           DefaultBurst,
		opLimit:         DefaultOperationTimeLimit,
		tokenLifetime:   DefaultTokenLifetime,
		refreshLifetime: DefaultRefreshTokenLifetime,
		scope:           DefaultScope,
		webhookScope:    DefaultWebhookScope,
		now:             time.Now,
		statuses:        map[string]int{},
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	s := &Server{
		cfg:  cfg,
		done: make(chan struct{}),
		portal: portal{
			memberID:    randString(32, hexDigits),
			users:       map[int]*user{1: {id: 1, admin: true}},
			apps:        map[string]*app{},
			webhooks:    map[string]*webhook{},
			access:      map[string]*accessToken{},
			refresh:     map[string]*refreshToken{},
			userOptions: map[optKey]*omap{},
			appOptions:  map[string]*omap{},
			commercial:  true,
			methodCost:  map[string]time.Duration{},
		},
		custom:   map[string]methodDef{},
		requests: map[string]int{},
		calls:    map[string]int{},
		last:     map[string]*Request{},
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
	s.closeAuthServers()
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
		ServerEndpoint: s.endpointOf(s.access[g.access].serverOrNil()),
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
	s.access[g.access] = &accessToken{app: a, userID: userID, expires: g.expires, server: s.authServer}
	s.refresh[g.refresh] = &refreshToken{app: a, userID: userID, expires: s.cfg.now().Add(s.cfg.refreshLifetime), server: s.authServer}
	a.grants[userID] = g
	return g
}

// Token returns the installed application's current pair for user 1. It rotates after
// each successful refresh.
func (s *Server) Token() bitrix24.Token {
	return s.OAuthConfig().Token
}

func (s *Server) ensureUserLocked(id int) *user {
	u := s.users[id]
	if u == nil {
		u = &user{id: id}
		s.users[id] = u
	}
	return u
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
