package bitrix24

import (
	"context"
	"fmt"
	"net/url"
	"strings"
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
	// TokenURL is the token endpoint; empty means that of Token.ServerEndpoint when it
	// is one of [DefaultAuthServers], else [DefaultTokenURL].
	TokenURL string
	// OnTokenRefresh, when set, receives every new token pair before the client uses it.
	// Persist the pair here: Bitrix24 rotates the refresh token on each refresh, so the
	// old one no longer works. An error is returned to the caller that triggered the
	// refresh; the client keeps the new pair all the same.
	OnTokenRefresh func(ctx context.Context, t Token) error
	// Store, when set, is where the pair comes from and goes to, under StoreKey: clients
	// and processes that share a store share one pair and one refresh per expiry. Token
	// may then be empty (it is loaded from Store).
	Store TokenStore
	// StoreKey is the key of the pair in Store; the zero key means
	// {MemberID: Token.MemberID}.
	StoreKey TokenKey
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

// NewWebhookClient returns a client that calls the portal through an inbound webhook,
// given as Bitrix24 shows it: "https://<portal>/rest/<user id>/<webhook code>/" (the
// trailing slash is optional). The code travels in the URL path and is redacted from
// every error and log line.
//
// Webhooks have no application context: Bitrix24 refuses user.option.* and
// userfieldtype.* through them. Use [NewOAuthClient] for those.
func NewWebhookClient(webhookURL string, opts ...Option) (*Client, error) {
	return newClient(opts, func(c *Client) (credentials, error) {
		base, code, err := parseWebhookURL(webhookURL, c.opts.allowHTTP)
		if err != nil {
			return nil, err
		}
		c.secrets.AddPinned(code)
		return &webhook{base: base}, nil
	})
}

// parseWebhookURL validates the webhook URL and returns its REST base (ending in "/")
// and the code.
func parseWebhookURL(raw string, allowHTTP bool) (base, code string, err error) {
	const field = "webhookURL"
	// Errors quote no part of the URL: it holds the secret.
	if strings.TrimSpace(raw) == "" {
		return "", "", invalid(field, "must not be empty")
	}
	u, perr := url.Parse(strings.TrimSpace(raw))
	if perr != nil {
		return "", "", invalid(field, "is not a valid URL")
	}
	if err := checkBaseURL(field, u, allowHTTP); err != nil {
		return "", "", err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", "", invalid(field, "must not have a query or fragment")
	}
	parts := strings.Split(strings.TrimSuffix(u.Path, "/"), "/")
	n := len(parts)
	if n < 4 || parts[n-3] != "rest" {
		return "", "", invalid(field, `must look like https://<portal>/rest/<user id>/<webhook code>/`)
	}
	uid, code := parts[n-2], parts[n-1]
	if uid == "" || strings.Trim(uid, "0123456789") != "" {
		return "", "", invalid(field, "must have a numeric user id after /rest/")
	}
	if code == "" || !isToken(code) {
		return "", "", invalid(field, "must have a webhook code (letters and digits) after the user id")
	}
	return u.Scheme + "://" + u.Host + strings.Join(parts[:n-2], "/") + "/" + uid + "/" + code + "/", code, nil
}

// checkBaseURL accepts absolute https URLs with a host and no user info (http only with
// WithAllowHTTP).
func checkBaseURL(field string, u *url.URL, allowHTTP bool) error {
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return invalid(field, "must use https (use WithAllowHTTP for local development)")
	default:
		return invalid(field, "must be an absolute https URL")
	}
	if u.Host == "" {
		return invalid(field, "must have a host")
	}
	if u.User != nil {
		return invalid(field, "must not contain user info")
	}
	return nil
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

// webhook credentials live in the path; nothing goes into the body.
type webhook struct{ base string }

func (w webhook) endpoint(method string) string              { return w.base + method }
func (webhook) accessToken(context.Context) (string, error)  { return "", nil }
func (webhook) refreshExpired(context.Context, string) error { return nil }

// NewOAuthClient returns a client that acts as an installed application with the given
// token pair. It sends the access token as "auth" in the body, refreshes the pair through
// cfg.TokenURL shortly before Token.Expiry and once when the server answers
// expired_token (then replays the call once), and hands every new pair to
// cfg.OnTokenRefresh before using it. Concurrent callers share one refresh.
//
// With cfg.Store, the pair is loaded from the store (cfg.Token may then be empty), every
// refresh happens under the store's lock when it has one, and every new pair is saved
// there before it is used: clients and processes sharing the store share one pair.
func NewOAuthClient(cfg OAuthConfig, opts ...Option) (*Client, error) {
	return newClient(opts, func(c *Client) (credentials, error) {
		restBase, err := restBaseOf(cfg.PortalURL, c.opts.allowHTTP)
		if err != nil {
			return nil, err
		}
		tokenURL := cfg.TokenURL
		if tokenURL == "" {
			tokenURL = defaultTokenURLFor(cfg.Token.ServerEndpoint)
		}
		if err := checkTokenURL("OAuthConfig.TokenURL", tokenURL, c.opts.allowHTTP); err != nil {
			return nil, err
		}
		switch {
		case cfg.ClientID == "":
			return nil, invalid("OAuthConfig.ClientID", "must not be empty")
		case cfg.ClientSecret == "":
			return nil, invalid("OAuthConfig.ClientSecret", "must not be empty")
		case cfg.Token.AccessToken == "" && cfg.Store == nil:
			return nil, invalid("OAuthConfig.Token.AccessToken", "must not be empty (or set OAuthConfig.Store to load the pair)")
		case cfg.Store != nil && cfg.StoreKey.MemberID == "" && (cfg.StoreKey != TokenKey{} || cfg.Token.MemberID == ""):
			// Two portals configured without one would share a slot of the store.
			return nil, invalid("OAuthConfig.StoreKey.MemberID", "must not be empty with a Store (set StoreKey or Token.MemberID)")
		}
		c.secrets.AddPinned(cfg.ClientSecret)
		refreshTimeout := DefaultRefreshTimeout
		if c.opts.timeout > 0 {
			refreshTimeout = 2 * c.opts.timeout
		}
		return newTokenSource(tokenSourceConfig{
			restBase: restBase,
			endpoint: tokenEndpoint{
				url: tokenURL, clientID: cfg.ClientID, clientSecret: cfg.ClientSecret,
				post: c.tr.postForm, secrets: c.secrets,
			},
			onRefresh: cfg.OnTokenRefresh,
			store:     cfg.Store,
			key:       cfg.StoreKey,
			initial:   cfg.Token,
			secrets:   c.secrets,
			timeout:   refreshTimeout,
			observer:  c.opts.observer,
		}), nil
	})
}

// restBaseOf validates an OAuth portal address and returns its REST base, ending in
// "/rest/". The portal's own address and its REST base ("https://host/rest/", the shape of
// Token.ClientEndpoint) are both accepted; any other path, a query or a fragment is not.
func restBaseOf(portalURL string, allowHTTP bool) (string, error) {
	const field = "OAuthConfig.PortalURL"
	raw := strings.TrimSpace(portalURL)
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return "", invalid(field, "must be a valid absolute URL")
	}
	if err := checkBaseURL(field, u, allowHTTP); err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", invalid(field, "must not have a query or fragment")
	}
	switch strings.TrimRight(u.Path, "/") {
	case "", "/rest":
	default:
		return "", invalid(field, `must be the portal's address ("https://example.bitrix24.com") or its REST base (".../rest/")`)
	}
	return u.Scheme + "://" + u.Host + "/rest/", nil
}

func checkTokenURL(field, raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return invalid(field, "must be a valid absolute URL")
	}
	if err := checkBaseURL(field, u, allowHTTP); err != nil {
		return err
	}
	if u.RawQuery != "" {
		return invalid(field, "must not have a query")
	}
	return nil
}

// DefaultRefreshTimeout bounds a token refresh (its store lock, the token endpoint and
// OnTokenRefresh) when [WithTimeout] is 0; otherwise the bound is twice that timeout. A
// refresh always has a deadline: every caller waits for it.
const DefaultRefreshTimeout = time.Minute

// Token returns the client's current OAuth token pair (the zero Token for a webhook
// client). It changes after each refresh.
func (c *Client) Token() Token {
	if c == nil {
		return Token{}
	}
	if o, ok := c.creds.(*tokenSource); ok {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.tok
	}
	return Token{}
}
