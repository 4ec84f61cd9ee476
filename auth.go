package bitrix24

import (
	"context"
	"fmt"
	"time"
)

// DefaultTokenURL is the Bitrix24 authorization server's token endpoint, used when
// [OAuthConfig.TokenURL] is empty.
const DefaultTokenURL = "https://oauth.bitrix.info/oauth/token/"

// Token is an OAuth 2.0 token pair issued to an installed Bitrix24 application.
//
// Its String and GoString methods never print the tokens, so a Token can be logged or
// formatted with %v and %+v safely.
type Token struct {
	AccessToken  string
	RefreshToken string
	// Expiry is when AccessToken stops working. Zero means unknown: the client then
	// refreshes only when the server answers expired_token.
	Expiry time.Time
	// Scope is the comma-separated scope list the server granted, e.g. "placement,user".
	Scope string
	// MemberID identifies the portal installation.
	MemberID string
	// ClientEndpoint is the portal's REST base, e.g. "https://portal.bitrix24.com/rest/".
	ClientEndpoint string
	// ServerEndpoint is the authorization server's REST base.
	ServerEndpoint string
	// UserID is the portal user the token acts for.
	UserID int
}

// String describes the token without revealing either secret.
func (t Token) String() string {
	exp := "unknown"
	if !t.Expiry.IsZero() {
		exp = t.Expiry.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("bitrix24.Token{AccessToken:%s RefreshToken:%s Expiry:%s Scope:%q UserID:%d}",
		mask(t.AccessToken), mask(t.RefreshToken), exp, t.Scope, t.UserID)
}

// GoString is String, so %#v is as safe as %v.
func (t Token) GoString() string { return t.String() }

// OAuthConfig configures a client that acts as an installed Bitrix24 application.
//
// Its String and GoString methods never print ClientSecret or the tokens.
type OAuthConfig struct {
	// PortalURL is the portal's address, e.g. "https://example.bitrix24.com". The REST
	// base is PortalURL + "/rest/".
	PortalURL    string
	ClientID     string
	ClientSecret string
	Token        Token
	// TokenURL is the token endpoint; empty means [DefaultTokenURL].
	TokenURL string
	// OnTokenRefresh, when set, receives every new token pair before the client uses it.
	// Persist the pair here: Bitrix24 rotates the refresh token on each refresh, so the
	// old one no longer works. An error is returned to the caller that triggered the
	// refresh; the client keeps the new pair all the same.
	OnTokenRefresh func(ctx context.Context, t Token) error
}

// String describes the configuration without revealing a secret.
func (c OAuthConfig) String() string {
	return fmt.Sprintf("bitrix24.OAuthConfig{PortalURL:%q ClientID:%q ClientSecret:%s Token:%s TokenURL:%q}",
		c.PortalURL, c.ClientID, mask(c.ClientSecret), c.Token, c.TokenURL)
}

// GoString is String, so %#v is as safe as %v.
func (c OAuthConfig) GoString() string { return c.String() }

// mask stands in for a secret in descriptions: it tells whether one is set, nothing more.
func mask(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}
