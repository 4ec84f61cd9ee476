package bitrix24test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	scopePlacement = "placement"
	tokenMethod    = "oauth/token"
)

// authInfo is a successful authentication: an application token or a webhook.
type authInfo struct {
	kind   string // "oauth" or "webhook" (apauth)
	app    *app
	hook   *webhook
	userID int
	scope  string
	// connector is the call's auth_connector (OAuth calls only; batch commands share the
	// batch's): offline events it causes skip the bindings of the same application and
	// connector.
	connector string
}

// clientID is the application context; empty for webhooks.
func (a *authInfo) clientID() string {
	if a.app != nil {
		return a.app.clientID
	}
	return ""
}

// entity identifies the application or webhook for the operating-time limiter.
func (a *authInfo) entity() string {
	if a.app != nil {
		return a.app.clientID
	}
	if a.hook != nil {
		return "hook:" + strconv.Itoa(a.hook.id)
	}
	return ""
}

func (a *authInfo) scopes() []string {
	if a.scope == "" {
		return []string{}
	}
	return strings.Split(a.scope, ",")
}

// hasScope reports whether a method of scope sc may run; "" is _global.
func (a *authInfo) hasScope(sc string) bool {
	if sc == "" {
		return true
	}
	for _, p := range a.scopes() {
		if p == sc {
			return true
		}
	}
	return false
}

// authenticate runs the OnRestCheckAuth handlers: the webhook one for path (or
// aplogin/ap) credentials, the OAuth one for a token, NO_AUTH_FOUND otherwise. Each
// failure is an OAuthException: 401 unless configured otherwise.
func (s *Server) authenticate(r *http.Request, c credentials, scope string) (*authInfo, *restError) {
	switch {
	case c.webhook:
		return s.authWebhook(r, c, scope)
	case c.token != "":
		return s.authOAuth(c.token, scope)
	}
	return nil, s.sysErr(http.StatusUnauthorized, "NO_AUTH_FOUND", "Wrong authorization data")
}

// authWebhook follows rest/lib/apauth/auth.php.
func (s *Server) authWebhook(r *http.Request, c credentials, scope string) (*authInfo, *restError) {
	if r.TLS == nil {
		return nil, s.sysErr(http.StatusUnauthorized, "INVALID_REQUEST", "Https required.")
	}
	h := s.webhooks[c.hookCode]
	uid, err := strconv.Atoi(c.hookUID)
	if h == nil || err != nil || uid != h.userID {
		return nil, s.sysErr(http.StatusUnauthorized, "INVALID_CREDENTIALS", "Invalid request credentials")
	}
	if s.appBlocked {
		return nil, s.sysErr(http.StatusUnauthorized, "OVERLOAD_LIMIT", "REST API is blocked due to overload.")
	}
	if !s.commercial {
		return nil, s.sysErr(http.StatusUnauthorized, "ACCESS_DENIED", "REST is available only by subscription.")
	}
	a := &authInfo{kind: "webhook", hook: h, userID: h.userID, scope: h.scope}
	if !a.hasScope(scope) {
		return nil, s.sysErr(http.StatusUnauthorized, "insufficient_scope", "The request requires higher privileges than provided by the webhook token")
	}
	return a, nil
}

// authOAuth follows rest/lib/oauth/auth.php: unknown token, hold, plan gate, expiry,
// scope, user access.
func (s *Server) authOAuth(token, scope string) (*authInfo, *restError) {
	t := s.access[token]
	if t == nil {
		return nil, s.sysErr(http.StatusUnauthorized, "invalid_token", "The access token provided is invalid")
	}
	if s.appBlocked {
		return nil, s.sysErr(http.StatusUnauthorized, "OVERLOAD_LIMIT", "REST API is blocked due to overload.")
	}
	if !s.commercial {
		return nil, s.sysErr(http.StatusUnauthorized, "ACCESS_DENIED", "REST is available only on commercial plans.")
	}
	if t.expired || !t.expires.After(s.cfg.now()) {
		return nil, s.sysErr(http.StatusUnauthorized, "expired_token", "The access token provided has expired")
	}
	a := &authInfo{kind: "oauth", app: t.app, userID: t.userID, scope: t.app.scope}
	if !a.hasScope(scope) {
		return nil, s.sysErr(http.StatusUnauthorized, "insufficient_scope", "The request requires higher privileges than provided by the access token")
	}
	if u := s.users[t.userID]; u == nil || u.denied {
		return nil, s.sysErr(http.StatusUnauthorized, "user_access_error", "The user does not have access to the application.")
	}
	return a, nil
}

// isAdmin is CRestUtil::isAdmin for the authenticated user.
func (s *Server) isAdmin(a *authInfo) bool {
	u := s.users[a.userID]
	return u != nil && u.admin
}

// serveToken is the authorization server's /oauth/token/: grant_type=refresh_token with
// client_id, client_secret and refresh_token, from the query string (GET, as documented)
// or a form body (POST). Each refresh rotates both tokens: the old refresh token dies at
// once, the old access token keeps working until it expires.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, body []byte) {
	s.serveTokenAt(w, r, body, nil)
}

// serveTokenAt is the token endpoint of authorization server via (nil: the portal's own).
func (s *Server) serveTokenAt(w http.ResponseWriter, r *http.Request, body []byte, via *AuthServer) {
	vals := r.URL.Query()
	if r.Method == http.MethodPost && len(body) > 0 {
		var post url.Values
		if isJSONType(mediaType(r.Header.Get("Content-Type"))) {
			post = jsonToValues(body)
		} else {
			post, _ = url.ParseQuery(string(body))
		}
		for k, v := range post {
			vals[k] = v
		}
	}
	params := map[string]any{}
	for k := range vals {
		params[k] = vals.Get(k)
	}

	entry := &Request{Method: tokenMethod, HTTPMethod: r.Method, Path: r.URL.Path, Header: r.Header.Clone(),
		Body: body, Params: params}
	s.mu.Lock()
	s.record(entry)
	f := s.takeFault(tokenMethod)
	s.mu.Unlock()
	if f != nil && !s.applyFault(w, r, f) {
		s.finishFaulted(entry, f)
		return
	}

	s.mu.Lock()
	status, out := s.refreshGrant(vals, via)
	finishToken(entry, status, out)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, out)
}

func tokenError(code, desc string) *omap {
	m := newOmap()
	m.set("error", code)
	m.set("error_description", desc)
	return m
}

func (s *Server) refreshGrant(vals url.Values, via *AuthServer) (int, *omap) {
	if vals.Get("grant_type") == "authorization_code" {
		return s.codeGrant(vals, via) // oauth_code.go
	}
	if gt := vals.Get("grant_type"); gt != "refresh_token" {
		return http.StatusBadRequest, tokenError("invalid_request", "Unsupported grant_type; this server only issues refresh_token grants")
	}
	a := s.apps[vals.Get("client_id")]
	if a == nil || vals.Get("client_secret") != a.secret {
		return http.StatusUnauthorized, tokenError("invalid_client", "The client credentials are invalid")
	}
	if !s.commercial { // the plan has lapsed
		return s.status("PAYMENT_REQUIRED", http.StatusPaymentRequired), tokenError("PAYMENT_REQUIRED", "Payment required")
	}
	rt := s.refresh[vals.Get("refresh_token")]
	if rt == nil || rt.app != a || rt.server != via { // each server knows its own pairs
		return http.StatusBadRequest, tokenError("invalid_grant", "The refresh token provided is invalid")
	}
	if !rt.expires.After(s.cfg.now()) {
		return http.StatusBadRequest, tokenError("invalid_grant", "The refresh token provided has expired")
	}
	delete(s.refresh, vals.Get("refresh_token"))
	saved := s.authServer
	s.authServer = via // the new pair stays with the server that refreshed it
	g := s.issueLocked(a, rt.userID)
	s.authServer = saved
	s.refreshes++

	host := s.hostOf(via)
	m := newOmap()
	m.set("access_token", g.access)
	m.set("expires", g.expires.Unix())
	m.set("expires_in", int64(s.cfg.tokenLifetime.Seconds()))
	m.set("scope", a.scope)
	m.set("domain", host)
	m.set("server_endpoint", s.endpointOf(via))
	m.set("status", "L")
	m.set("client_endpoint", s.RESTURL())
	m.set("member_id", s.memberID)
	m.set("user_id", rt.userID)
	m.set("refresh_token", g.refresh)
	return http.StatusOK, m
}

// jsonToValues reads a flat JSON object into url.Values (scalars only).
func jsonToValues(body []byte) url.Values {
	out := url.Values{}
	m := decodeJSONParams(body)
	for k, v := range m {
		if s, ok := scalarString(v); ok {
			out.Set(k, s)
		}
	}
	return out
}
