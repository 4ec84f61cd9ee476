package bitrix24test

import (
	"net/http"
	"strconv"
	"strings"
)

// oauthRESTPrefix is where the fake's authorization server answers REST calls: the real
// one is https://oauth.bitrix.info/rest/; the fake shares the portal's host, so it
// lives under /oauth/rest/, apart from the portal's own /rest/.
const oauthRESTPrefix = "/oauth/rest/"

// ServerEndpoint is the fake authorization server's REST base, URL + "/oauth/rest/":
// the server_endpoint of events, app pages and token answers, and the
// bitrix24.App.ServerEndpoint that verifies them with app.info.
func (s *Server) ServerEndpoint() string { return s.URL + oauthRESTPrefix }

func isOAuthRESTPath(p string) bool { return strings.HasPrefix(p, oauthRESTPrefix) }

// serveOAuthREST is the authorization server's REST API; it implements app.info only.
// The token comes as auth (query or form body) or a Bearer header. Requests are
// recorded as "oauth/" + the method ("oauth/app.info" in [Server.Requests]) and take
// faults injected for that name.
func (s *Server) serveOAuthREST(w http.ResponseWriter, r *http.Request, body []byte) {
	s.serveOAuthRESTAt(w, r, body, oauthRESTPrefix, nil)
}

// serveOAuthRESTAt is the REST API of authorization server via (nil: the portal's own),
// whose REST base has the path prefix.
func (s *Server) serveOAuthRESTAt(w http.ResponseWriter, r *http.Request, body []byte, prefix string, via *AuthServer) {
	rt := parseRoute("/rest/" + strings.TrimPrefix(r.URL.Path, prefix))
	in := readParams(r, body)
	token := tokenFrom(r.Header.Get("Authorization"), in.params)
	method := "oauth/" + rt.method

	rec := &Request{Method: method, HTTPMethod: r.Method, Path: r.URL.Path, Header: r.Header.Clone(),
		Body: body, Params: map[string]any{}, AuthType: map[bool]string{true: "oauth"}[token != ""]}
	s.mu.Lock()
	s.record(rec)
	f := s.takeFault(method)
	s.mu.Unlock()
	if f != nil && !s.applyFault(w, r, f) {
		return
	}

	s.mu.Lock()
	status, out := s.appInfoLocked(rt, token, via)
	s.mu.Unlock()
	if e, ok := out.(*restError); ok {
		s.finish(rec, e.status, e.code)
		writeRESTError(w, e)
		return
	}
	s.finish(rec, status, "")
	setRESTHeaders(w.Header())
	writeJSON(w, status, out)
}

// appInfoLocked answers app.info in the shape of the official Python SDK's fixtures:
// client_id, scope, expires, user_id (a string) and the install block with domain,
// member_id and client_endpoint.
func (s *Server) appInfoLocked(rt route, token string, via *AuthServer) (int, any) {
	if rt.method != "app.info" || rt.webhook {
		return 0, s.sysErr(http.StatusNotFound, "ERROR_METHOD_NOT_FOUND", "Method not found!")
	}
	if token == "" {
		return 0, s.sysErr(http.StatusUnauthorized, "NO_AUTH_FOUND", "Wrong authorization data")
	}
	t := s.access[token]
	if t == nil || t.server != via { // each server knows its own tokens
		return 0, s.sysErr(http.StatusUnauthorized, "invalid_token", "The access token provided is invalid")
	}
	now := s.cfg.now()
	if t.expired || !t.expires.After(now) {
		return 0, s.sysErr(http.StatusUnauthorized, "expired_token", "The access token provided has expired")
	}
	install := newOmap()
	install.set("installed", true)
	install.set("version", "1")
	install.set("status", "L")
	install.set("scope", t.app.scope)
	install.set("domain", s.host())
	install.set("uri", s.URL)
	install.set("client_endpoint", s.RESTURL())
	install.set("member_id", s.memberID)
	install.set("member_type", "user")
	res := newOmap()
	res.set("client_id", t.app.clientID)
	res.set("scope", t.app.scope)
	res.set("expires", t.expires.Format("2006-01-02T15:04:05-07:00"))
	res.set("user_id", strconv.Itoa(t.userID))
	res.set("install", install)
	env := newOmap()
	env.set("result", res)
	env.set("time", timeInfo{start: now, finish: s.cfg.now()}.toMap())
	return http.StatusOK, env
}
