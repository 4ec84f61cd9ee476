package bitrix24test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
)

// AuthServer is another authorization server of the fake portal, on a host of its own,
// as oauth.bitrix24.tech answers for the portals of some regions beside
// oauth.bitrix.info: its REST base (URL + "/rest/", app.info) and its token endpoint
// (URL + "/oauth/token/", the server_endpoint minus "rest/" plus "oauth/token/"). It
// shares the portal's state and its TLS certificate, so [Server.Client] trusts it.
//
// Each server knows only the pairs it issued: its token endpoint answers invalid_grant
// for another server's refresh token, and its app.info invalid_token for another
// server's access token. Start one with [Server.AddAuthServer]; [Server.UseAuthServer]
// makes the portal issue its pairs there.
type AuthServer struct {
	// URL is the server's base URL, https://127.0.0.1:<port>, without a trailing slash.
	URL string
	s   *Server
	ts  *httptest.Server
}

// ServerEndpoint is the server's REST base, URL + "/rest/": the server_endpoint of the
// events, app pages and token answers of the pairs it issues.
func (a *AuthServer) ServerEndpoint() string { return a.URL + "/rest/" }

// TokenURL is the server's token endpoint, URL + "/oauth/token/".
func (a *AuthServer) TokenURL() string { return a.URL + "/oauth/token/" }

// AddAuthServer starts another authorization server of the portal (see [AuthServer]).
// It stops with the portal's Close.
func (s *Server) AddAuthServer() *AuthServer {
	a := &AuthServer{s: s}
	a.ts = httptest.NewUnstartedServer(http.HandlerFunc(a.serveHTTP))
	a.ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	if s.cfg.plainHTTP {
		a.URL = "http://" + a.ts.Listener.Addr().String()
		a.ts.Start()
	} else {
		a.URL = "https://" + a.ts.Listener.Addr().String()
		a.ts.StartTLS() // httptest's certificate: the portal's own
	}
	s.mu.Lock()
	s.authServers = append(s.authServers, a)
	s.mu.Unlock()
	return a
}

// UseAuthServer makes a (nil: the portal's own, [Server.ServerEndpoint]) the
// authorization server of the pairs the portal issues from now on: their events, app
// pages and token answers name it as server_endpoint, and only it refreshes them. Pairs
// issued before stay with their server.
func (s *Server) UseAuthServer(a *AuthServer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authServer = a
}

// serverEndpointLocked is the server_endpoint of the pairs issued now.
func (s *Server) serverEndpointLocked() string {
	if s.authServer != nil {
		return s.authServer.ServerEndpoint()
	}
	return s.ServerEndpoint()
}

// endpointOf is the server_endpoint of the pairs a issued (nil: the portal's own).
func (s *Server) endpointOf(a *AuthServer) string {
	if a != nil {
		return a.ServerEndpoint()
	}
	return s.ServerEndpoint()
}

// hostOf is the host of an authorization server, the "domain" of its token answers.
func (s *Server) hostOf(a *AuthServer) string {
	u, err := url.Parse(s.endpointOf(a))
	if err != nil {
		return ""
	}
	return u.Host
}

func (a *AuthServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	switch p := r.URL.Path; {
	case isTokenPath(p):
		a.s.serveTokenAt(w, r, body, a)
	case strings.HasPrefix(p, "/rest/"):
		a.s.serveOAuthRESTAt(w, r, body, "/rest/", a)
	default:
		http.NotFound(w, r)
	}
}

// closeAuthServers stops the servers of AddAuthServer.
func (s *Server) closeAuthServers() {
	s.mu.Lock()
	list := s.authServers
	s.authServers = nil
	s.mu.Unlock()
	for _, a := range list {
		a.ts.Close()
	}
}

// Uninstall removes the installed application as the portal does before it sends
// ONAPPUNINSTALL: every access and refresh token of the application is revoked (REST
// calls and app.info answer invalid_token, the token endpoint invalid_grant). Post the
// event with [Server.SendUninstall]. A later ONAPPINSTALL ([Server.EventForm]) installs it
// again with a new pair.
func (s *Server) Uninstall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mainApp
	for k, t := range s.access {
		if t.app == a {
			delete(s.access, k)
		}
	}
	for k, t := range s.refresh {
		if t.app == a {
			delete(s.refresh, k)
		}
	}
	clear(a.grants)
}

// ForgeEvent plays an attacker who is an ordinary user of the application: the form of
// event name as [Server.EventForm] builds it, but carrying a genuine pair of portal
// user userID (added as a non-admin when unknown), which every user who opens the
// application holds, and the application_token, which its pages show. Post it with
// [Server.SendEvent]; post any form twice to replay it.
func (s *Server) ForgeEvent(name string, userID int) url.Values {
	f := s.EventForm(name)
	if f.Get("auth[access_token]") == "" {
		return f // ONAPPUNINSTALL carries no token: anyone holding the application_token can send it
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureUserLocked(userID)
	g := s.issueLocked(s.mainApp, userID)
	f.Set("auth[access_token]", g.access)
	if f.Get("auth[refresh_token]") != "" {
		f.Set("auth[refresh_token]", g.refresh)
	}
	f.Set("auth[user_id]", strconv.Itoa(userID))
	return f
}

// serverOrNil is the server that issued t; nil for an unknown token.
func (t *accessToken) serverOrNil() *AuthServer {
	if t == nil {
		return nil
	}
	return t.server
}
