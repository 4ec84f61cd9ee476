package bitrix24test

import (
	"strings"
	"time"

	"github.com/b24go/bitrix24"
)

// AddWebhook creates another inbound webhook for userID (added as a non-admin user when
// unknown) with the given scope and returns its URL.
func (s *Server) AddWebhook(userID int, scope string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureUserLocked(userID)
	return s.webhookURL(s.addWebhookLocked(userID, normalizeScope(scope)))
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

// SetMethodCost makes each call of method (case-insensitive), alone or as a batch
// command, take d more of server time, without sleeping: d counts toward
// OPERATION_TIME_LIMIT, and the answer's time.processing and time.finish (so duration)
// include it. 0 removes the cost.
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

// RevokeRefreshToken makes refreshToken answer invalid_grant from now on, as after
// the user revoked the application's access. It reports whether the token was known.
func (s *Server) RevokeRefreshToken(refreshToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.refresh[refreshToken]
	delete(s.refresh, refreshToken)
	return ok
}

// RevokeRefreshTokens revokes every refresh token the portal has issued: each answers
// invalid_grant from now on. Access tokens keep working until they expire.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refresh)
}
