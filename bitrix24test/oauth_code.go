package bitrix24test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// codeLifetime is how long an authorization code works (30 s, per the documentation).
const codeLifetime = 30 * time.Second

// authCode is an authorization code waiting for its exchange.
type authCode struct {
	app     *app
	userID  int
	expires time.Time
}

// portalSide is what the fake keeps for the application side: authorization codes and
// each application's application_token. Guarded by Server.mu; the zero value is ready.
type portalSide struct {
	codes     map[string]*authCode
	appTokens map[*app]string
	exchanges int
}

// AuthorizationCode issues an authorization code of the installed application for
// portal user userID (added as a non-admin when unknown), as the portal does after
// /oauth/authorize/. It works once, for 30 seconds of the server's clock.
func (s *Server) AuthorizationCode(userID int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueCodeLocked(s.mainApp, userID)
}

func (s *Server) issueCodeLocked(a *app, userID int) string {
	s.ensureUserLocked(userID)
	if s.appSide.codes == nil {
		s.appSide.codes = map[string]*authCode{}
	}
	code := randString(32, hexDigits)
	s.appSide.codes[code] = &authCode{app: a, userID: userID, expires: s.cfg.now().Add(codeLifetime)}
	return code
}

// Authorize plays the portal's /oauth/authorize/ page for portal user userID: given the
// URL an application sent the user to (see bitrix24.App.AuthorizeURL), it returns the
// query the portal appends to the application's redirect URI: code, state, domain,
// member_id, scope and server_domain. It fails when the URL is not this portal's
// /oauth/authorize/ or names an unknown client_id.
func (s *Server) Authorize(authorizeURL string, userID int) (url.Values, error) {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return nil, fmt.Errorf("bitrix24test: authorize URL: %w", err)
	}
	if u.Scheme+"://"+u.Host != s.URL || strings.TrimSuffix(u.Path, "/") != "/oauth/authorize" {
		return nil, fmt.Errorf("bitrix24test: %q is not this portal's /oauth/authorize/", u.Scheme+"://"+u.Host+u.Path)
	}
	q := u.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[q.Get("client_id")]
	if a == nil {
		return nil, fmt.Errorf("bitrix24test: unknown client_id %q", q.Get("client_id"))
	}
	out := url.Values{}
	out.Set("code", s.issueCodeLocked(a, userID))
	if st := q.Get("state"); st != "" {
		out.Set("state", st)
	}
	out.Set("domain", s.host())
	out.Set("member_id", s.memberID)
	out.Set("scope", a.scope)
	out.Set("server_domain", s.host())
	return out, nil
}

// Exchanges returns how many authorization_code grants succeeded.
func (s *Server) Exchanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appSide.exchanges
}

// host is the portal's host[:port], as DOMAIN and domain carry it.
func (s *Server) host() string {
	return strings.TrimPrefix(strings.TrimPrefix(s.URL, "https://"), "http://")
}

// codeGrant is grant_type=authorization_code (under s.mu): client_id, client_secret and
// code. A code works once; an unknown or used one answers invalid_grant, a late one
// expired_token (as a third-party page records the real server doing). The answer has
// the documented shape: no user_id and no expires.
func (s *Server) codeGrant(vals url.Values, via *AuthServer) (int, *omap) {
	a := s.apps[vals.Get("client_id")]
	if a == nil || vals.Get("client_secret") != a.secret {
		return http.StatusUnauthorized, tokenError("invalid_client", "The client credentials are invalid")
	}
	c := s.appSide.codes[vals.Get("code")]
	if c == nil || c.app != a {
		return http.StatusBadRequest, tokenError("invalid_grant", "The authorization code provided is invalid")
	}
	delete(s.appSide.codes, vals.Get("code"))
	if !s.cfg.now().Before(c.expires) {
		return http.StatusBadRequest, tokenError("expired_token", "The authorization token provided has expired.")
	}
	saved := s.authServer
	s.authServer = via // the pair belongs to the server that issued it
	g := s.issueLocked(a, c.userID)
	s.authServer = saved
	s.appSide.exchanges++
	m := newOmap()
	m.set("access_token", g.access)
	m.set("client_endpoint", s.RESTURL())
	m.set("domain", s.host())
	m.set("expires_in", int64(s.cfg.tokenLifetime.Seconds()))
	m.set("member_id", s.memberID)
	m.set("refresh_token", g.refresh)
	m.set("scope", a.scope)
	m.set("server_endpoint", s.endpointOf(via))
	m.set("status", "L")
	return http.StatusOK, m
}
