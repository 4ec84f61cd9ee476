package bitrix24test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSystemErrors covers the rows of reference §3 the portal itself produces.
func TestSystemErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   []Option
		setup  func(s *Server)
		call   func(t *testing.T, s *Server) resp
		status int
		code   string
		desc   string
	}{
		{
			name:   "NO_AUTH_FOUND",
			call:   func(t *testing.T, s *Server) resp { return callJSONAs(t, s, "", "server.time", nil) },
			status: 401, code: "NO_AUTH_FOUND", desc: "Wrong authorization data",
		},
		{
			name:   "invalid_token",
			call:   func(t *testing.T, s *Server) resp { return callJSONAs(t, s, "nope", "server.time", nil) },
			status: 401, code: "invalid_token", desc: "The access token provided is invalid",
		},
		{
			name:   "INVALID_REQUEST webhook over http",
			opts:   []Option{WithPlainHTTP()},
			call:   func(t *testing.T, s *Server) resp { return hookJSON(t, s, "server.time", nil) },
			status: 401, code: "INVALID_REQUEST", desc: "Https required.",
		},
		{
			name: "INVALID_CREDENTIALS bad code",
			call: func(t *testing.T, s *Server) resp {
				return send(t, s, http.MethodGet, s.URL+"/rest/1/aaaaaaaaaaaaaaaa/server.time", "", "", nil)
			},
			status: 401, code: "INVALID_CREDENTIALS", desc: "Invalid request credentials",
		},
		{
			name: "INVALID_CREDENTIALS wrong user",
			call: func(t *testing.T, s *Server) resp {
				u := strings.Replace(s.WebhookURL(), "/rest/1/", "/rest/2/", 1)
				return send(t, s, http.MethodGet, u+"server.time", "", "", nil)
			},
			status: 401, code: "INVALID_CREDENTIALS", desc: "Invalid request credentials",
		},
		{
			name:   "OVERLOAD_LIMIT oauth",
			setup:  func(s *Server) { s.SetAppBlocked(true) },
			call:   func(t *testing.T, s *Server) resp { return callJSON(t, s, "server.time", nil) },
			status: 401, code: "OVERLOAD_LIMIT", desc: "REST API is blocked due to overload.",
		},
		{
			name:   "OVERLOAD_LIMIT webhook",
			setup:  func(s *Server) { s.SetAppBlocked(true) },
			call:   func(t *testing.T, s *Server) resp { return hookJSON(t, s, "server.time", nil) },
			status: 401, code: "OVERLOAD_LIMIT", desc: "REST API is blocked due to overload.",
		},
		{
			name:   "ACCESS_DENIED plan gate oauth",
			setup:  func(s *Server) { s.SetCommercialPlan(false) },
			call:   func(t *testing.T, s *Server) resp { return callJSON(t, s, "server.time", nil) },
			status: 401, code: "ACCESS_DENIED", desc: "REST is available only on commercial plans.",
		},
		{
			name:   "ACCESS_DENIED plan gate webhook",
			setup:  func(s *Server) { s.SetCommercialPlan(false) },
			call:   func(t *testing.T, s *Server) resp { return hookJSON(t, s, "server.time", nil) },
			status: 401, code: "ACCESS_DENIED", desc: "REST is available only by subscription.",
		},
		{
			name:   "expired_token",
			setup:  func(s *Server) { s.ExpireAccessToken() },
			call:   func(t *testing.T, s *Server) resp { return callJSON(t, s, "server.time", nil) },
			status: 401, code: "expired_token", desc: "The access token provided has expired",
		},
		{
			name:   "insufficient_scope oauth",
			opts:   []Option{WithScope("user")},
			call:   func(t *testing.T, s *Server) resp { return callJSON(t, s, "userfieldtype.list", nil) },
			status: 401, code: "insufficient_scope", desc: "The request requires higher privileges than provided by the access token",
		},
		{
			name:   "insufficient_scope webhook",
			opts:   []Option{WithWebhookScope("user")},
			call:   func(t *testing.T, s *Server) resp { return hookJSON(t, s, "userfieldtype.list", nil) },
			status: 401, code: "insufficient_scope", desc: "The request requires higher privileges than provided by the webhook token",
		},
		{
			name:  "user_access_error",
			setup: func(s *Server) { s.DenyUserAccess(7) },
			call: func(t *testing.T, s *Server) resp {
				return callJSONAs(t, s, s.OAuthConfigForUser(7).Token.AccessToken, "server.time", nil)
			},
			status: 401, code: "user_access_error", desc: "The user does not have access to the application.",
		},
		{
			name:   "PORTAL_DELETED",
			setup:  func(s *Server) { s.SetPortalDeleted(true) },
			call:   func(t *testing.T, s *Server) resp { return callJSON(t, s, "server.time", nil) },
			status: 403, code: "PORTAL_DELETED", desc: "Portal was deleted",
		},
		{
			name:   "PORTAL_DELETED before method lookup",
			setup:  func(s *Server) { s.SetPortalDeleted(true) },
			call:   func(t *testing.T, s *Server) resp { return callJSONAs(t, s, "", "no.such", nil) },
			status: 403, code: "PORTAL_DELETED", desc: "Portal was deleted",
		},
		{
			name:   "ERROR_METHOD_NOT_FOUND",
			call:   func(t *testing.T, s *Server) resp { return callJSON(t, s, "no.such.method", nil) },
			status: 404, code: "ERROR_METHOD_NOT_FOUND", desc: "Method not found!",
		},
		{
			name:   "WRONG_AUTH_TYPE webhook userfieldtype",
			call:   func(t *testing.T, s *Server) resp { return hookJSON(t, s, "userfieldtype.list", nil) },
			status: 403, code: "WRONG_AUTH_TYPE", desc: "Current authorization type is denied for this method Application context required",
		},
		{
			name:   "configured status",
			opts:   []Option{WithSystemErrorStatus("overload_limit", 503)},
			setup:  func(s *Server) { s.SetAppBlocked(true) },
			call:   func(t *testing.T, s *Server) resp { return callJSON(t, s, "server.time", nil) },
			status: 503, code: "OVERLOAD_LIMIT", desc: "REST API is blocked due to overload.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSrv(t, tc.opts...)
			if tc.setup != nil {
				tc.setup(s)
			}
			requireErr(t, tc.call(t, s), tc.status, tc.code, tc.desc)
		})
	}
}

// TestAuthCheckOrder follows §4.2: hold, plan gate, expiry, scope, user access.
func TestAuthCheckOrder(t *testing.T) {
	t.Parallel()
	s := newSrv(t, WithScope("user"))
	s.DenyUserAccess(1)
	s.ExpireAccessToken()
	s.SetCommercialPlan(false)
	s.SetAppBlocked(true)
	call := func() resp { return callJSON(t, s, "userfieldtype.list", nil) }
	assert.Equal(t, "OVERLOAD_LIMIT", call().errCode())
	s.SetAppBlocked(false)
	assert.Equal(t, "ACCESS_DENIED", call().errCode())
	s.SetCommercialPlan(true)
	assert.Equal(t, "expired_token", call().errCode())
	// A refreshed token for the same user: scope, then user access.
	cfg := s.OAuthConfig()
	r := send(t, s, http.MethodPost, cfg.TokenURL, "application/x-www-form-urlencoded", url.Values{
		"grant_type": {"refresh_token"}, "client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret},
		"refresh_token": {cfg.Token.RefreshToken},
	}.Encode(), nil)
	require.Equal(t, 200, r.status, "%s", r.raw)
	assert.Equal(t, "insufficient_scope", call().errCode())
	assert.Equal(t, "user_access_error", callJSON(t, s, "server.time", nil).errCode())
	// The webhook checks https first.
	p := newSrv(t, WithPlainHTTP())
	p.SetPortalDeleted(false)
	r = send(t, p, http.MethodGet, strings.Replace(p.WebhookURL(), "/rest/1/", "/rest/9/", 1)+"server.time", "", "", nil)
	assert.Equal(t, "INVALID_REQUEST", r.errCode())
}

func TestTokenExpiryByClock(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newSrv(t, WithClock(clk.Now), WithTokenLifetime(10*time.Minute))
	cfg := s.OAuthConfig()
	assert.Equal(t, clk.Now().Add(10*time.Minute), cfg.Token.Expiry)
	requireResult(t, callJSON(t, s, "server.time", nil))
	clk.Advance(10 * time.Minute) // expires <= now
	requireErr(t, callJSON(t, s, "server.time", nil), 401, "expired_token", "The access token provided has expired")
}

func TestOAuthConfigShape(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	cfg := s.OAuthConfig()
	assert.Equal(t, s.URL, cfg.PortalURL)
	assert.True(t, strings.HasPrefix(s.URL, "https://127.0.0.1:"))
	assert.Regexp(t, `^local\.[0-9a-f]{14}\.[0-9]{8}$`, cfg.ClientID)
	assert.NotEmpty(t, cfg.ClientSecret)
	assert.Equal(t, s.URL+"/oauth/token/", cfg.TokenURL)
	assert.Equal(t, s.URL+"/rest/", cfg.Token.ClientEndpoint)
	assert.Equal(t, DefaultScope, cfg.Token.Scope)
	assert.Equal(t, 1, cfg.Token.UserID)
	assert.Len(t, cfg.Token.MemberID, 32)
	assert.False(t, cfg.Token.Expiry.IsZero())
	assert.Equal(t, cfg.Token, s.Token())
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/rest/1/[a-z0-9]{16}/$`, s.WebhookURL())
	assert.NotContains(t, s.WebhookURL(), cfg.ClientSecret)
	assert.NotContains(t, cfg.TokenURL, cfg.ClientSecret)

	other := s.InstallApp("user")
	assert.NotEqual(t, cfg.ClientID, other.ClientID)
	assert.Equal(t, "user", other.Token.Scope)

	p := newSrv(t, WithPlainHTTP())
	assert.True(t, strings.HasPrefix(p.URL, "http://127.0.0.1:"))
	requireResult(t, callJSON(t, p, "server.time", nil)) // OAuth works over http
}

func refresh(t *testing.T, s *Server, method, clientID, secret, refreshToken string) resp {
	t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "client_secret": {secret}, "refresh_token": {refreshToken}}
	if method == http.MethodGet {
		return send(t, s, http.MethodGet, s.URL+"/oauth/token/?"+v.Encode(), "", "", nil)
	}
	return send(t, s, http.MethodPost, s.URL+"/oauth/token/", "application/x-www-form-urlencoded", v.Encode(), nil)
}

func TestTokenEndpointRotation(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newSrv(t, WithClock(clk.Now))
	cfg := s.OAuthConfig()
	old := cfg.Token

	r := refresh(t, s, http.MethodPost, cfg.ClientID, cfg.ClientSecret, old.RefreshToken)
	require.Equal(t, 200, r.status, "%s", r.raw)
	keys := []string{"access_token", "expires", "expires_in", "scope", "domain", "server_endpoint", "status", "client_endpoint", "member_id", "user_id", "refresh_token"}
	for _, k := range keys {
		assert.Contains(t, r.body, k)
	}
	assert.Len(t, r.body, len(keys))
	assert.Equal(t, "L", r.body["status"])
	assert.Equal(t, float64(3600), r.body["expires_in"])
	assert.Equal(t, float64(clk.Now().Add(time.Hour).Unix()), r.body["expires"])
	assert.Equal(t, float64(1), r.body["user_id"])
	assert.Equal(t, s.URL+"/rest/", r.body["client_endpoint"])
	assert.Equal(t, DefaultScope, r.body["scope"])
	assert.NotEqual(t, old.AccessToken, r.body["access_token"])
	assert.NotEqual(t, old.RefreshToken, r.body["refresh_token"])
	assert.Equal(t, 1, s.Refreshes())
	assert.Equal(t, r.body["access_token"], s.Token().AccessToken, "Token() rotates")
	assert.Equal(t, r.body["refresh_token"], s.Token().RefreshToken)

	// The old refresh token is dead; the old access token works until it expires.
	r2 := refresh(t, s, http.MethodPost, cfg.ClientID, cfg.ClientSecret, old.RefreshToken)
	assert.Equal(t, 400, r2.status)
	assert.Equal(t, "invalid_grant", r2.errCode())
	requireResult(t, callJSONAs(t, s, old.AccessToken, "server.time", nil))
	requireResult(t, callJSON(t, s, "server.time", nil))

	// GET with the query string works too.
	r3 := refresh(t, s, http.MethodGet, cfg.ClientID, cfg.ClientSecret, s.Token().RefreshToken)
	require.Equal(t, 200, r3.status, "%s", r3.raw)
	assert.Equal(t, 2, s.Refreshes())
	assert.Equal(t, 2, s.Requests("oauth/token")-1)
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	cfg := s.OAuthConfig()
	other := s.InstallApp("placement")
	tests := []struct {
		name, clientID, secret, refresh string
		status                          int
		code                            string
	}{
		{"wrong secret", cfg.ClientID, "wrong", cfg.Token.RefreshToken, 401, "invalid_client"},
		{"unknown client", "local.nope", cfg.ClientSecret, cfg.Token.RefreshToken, 401, "invalid_client"},
		{"unknown refresh token", cfg.ClientID, cfg.ClientSecret, "nope", 400, "invalid_grant"},
		{"other app's refresh token", cfg.ClientID, cfg.ClientSecret, other.Token.RefreshToken, 400, "invalid_grant"},
	}
	for _, tc := range tests {
		r := refresh(t, s, http.MethodPost, tc.clientID, tc.secret, tc.refresh)
		assert.Equal(t, tc.status, r.status, tc.name)
		assert.Equal(t, tc.code, r.errCode(), tc.name)
		assert.NotEmpty(t, r.errDesc(), tc.name)
	}
	r := send(t, s, http.MethodPost, s.URL+"/oauth/token/", "application/x-www-form-urlencoded", "grant_type=password", nil)
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "invalid_request", r.errCode())
	assert.Equal(t, 0, s.Refreshes())
	// The token endpoint does not use the portal's leaky bucket.
	b := newSrv(t, WithRateLimit(1, 1))
	bc := b.OAuthConfig()
	for i := 0; i < 3; i++ {
		r := refresh(t, b, http.MethodPost, bc.ClientID, bc.ClientSecret, b.Token().RefreshToken)
		require.Equal(t, 200, r.status)
	}
	assert.Equal(t, 0, b.QueryLimitRefusals())
}

func TestBearerBeatsAuthParam(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	r := send(t, s, http.MethodPost, s.URL+"/rest/server.time", "application/json",
		`{"auth":"`+s.Token().AccessToken+`"}`, http.Header{"Authorization": {"Bearer bogus"}})
	requireErr(t, r, 401, "invalid_token", "The access token provided is invalid")
	last, ok := s.LastRequest("server.time")
	require.True(t, ok)
	assert.Equal(t, "oauth", last.AuthType)
	assert.NotContains(t, last.Params, "auth")
}

func TestWebhookQueryCredentials(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	code := strings.Split(strings.TrimSuffix(s.WebhookURL(), "/"), "/")
	r := send(t, s, http.MethodGet, s.URL+"/rest/server.time?aplogin=1&ap="+code[len(code)-1], "", "", nil)
	requireResult(t, r)
	hook := s.AddWebhook(5, "user")
	r = send(t, s, http.MethodGet, hook+"profile", "", "", nil)
	res := requireResult(t, r).(map[string]any)
	assert.Equal(t, "5", res["ID"])
	assert.Equal(t, false, res["ADMIN"])
	r = send(t, s, http.MethodGet, hook+"scope", "", "", nil)
	assert.Equal(t, []any{"user"}, requireResult(t, r))
}
