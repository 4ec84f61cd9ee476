package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/b24go/bitrix24/internal/envelope"
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
		c.secrets.Add(code)
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
func NewOAuthClient(cfg OAuthConfig, opts ...Option) (*Client, error) {
	return newClient(opts, func(c *Client) (credentials, error) {
		return newOAuthSource(c, cfg)
	})
}

// Token returns the client's current OAuth token pair (the zero Token for a webhook
// client). It changes after each refresh.
func (c *Client) Token() Token {
	if o, ok := c.creds.(*oauthSource); ok {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.tok
	}
	return Token{}
}

// refreshMethod names the token endpoint in errors.
const refreshMethod = "oauth/token"

// expiryMargin is how long before Token.Expiry the token is refreshed proactively, so
// that a call does not leave with a token that dies on the way.
const expiryMargin = 30 * time.Second

// oauthSource holds the token pair and refreshes it, once for all goroutines.
type oauthSource struct {
	c        *Client
	restBase string
	tokenURL string
	cfg      OAuthConfig

	mu          sync.Mutex
	tok         Token
	lastRefresh time.Time
	inflight    *refreshCall
	dead        error // a refresh failure that no retry can fix (invalid_grant, invalid_client)
}

// refreshCall is one refresh that every waiting caller shares.
type refreshCall struct {
	done chan struct{}
	err  error
}

func newOAuthSource(c *Client, cfg OAuthConfig) (*oauthSource, error) {
	portal, err := url.Parse(strings.TrimSpace(cfg.PortalURL))
	if err != nil || cfg.PortalURL == "" {
		return nil, invalid("OAuthConfig.PortalURL", "must be a valid absolute URL")
	}
	if err := checkBaseURL("OAuthConfig.PortalURL", portal, c.opts.allowHTTP); err != nil {
		return nil, err
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = DefaultTokenURL
	}
	tu, err := url.Parse(tokenURL)
	if err != nil {
		return nil, invalid("OAuthConfig.TokenURL", "must be a valid absolute URL")
	}
	if err := checkBaseURL("OAuthConfig.TokenURL", tu, c.opts.allowHTTP); err != nil {
		return nil, err
	}
	if tu.RawQuery != "" {
		return nil, invalid("OAuthConfig.TokenURL", "must not have a query")
	}
	switch {
	case cfg.ClientID == "":
		return nil, invalid("OAuthConfig.ClientID", "must not be empty")
	case cfg.ClientSecret == "":
		return nil, invalid("OAuthConfig.ClientSecret", "must not be empty")
	case cfg.Token.AccessToken == "":
		return nil, invalid("OAuthConfig.Token.AccessToken", "must not be empty")
	}
	c.secrets.Add(cfg.ClientSecret, cfg.Token.AccessToken, cfg.Token.RefreshToken)
	return &oauthSource{
		c:        c,
		restBase: strings.TrimRight(portal.Scheme+"://"+portal.Host+portal.Path, "/") + "/rest/",
		tokenURL: tokenURL,
		cfg:      cfg,
		tok:      cfg.Token,
	}, nil
}

func (o *oauthSource) endpoint(method string) string { return o.restBase + method }

// accessToken returns the current token; near its expiry, or while a refresh is under
// way, it first waits for the (shared) refresh so that no call leaves with a token whose
// successor OnTokenRefresh has not yet seen.
func (o *oauthSource) accessToken(ctx context.Context) (string, error) {
	o.mu.Lock()
	if o.inflight == nil && !o.expiringLocked() {
		tok := o.tok.AccessToken
		o.mu.Unlock()
		return tok, nil
	}
	call := o.startLocked()
	o.mu.Unlock()
	if err := waitRefresh(ctx, call); err != nil {
		return "", err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tok.AccessToken, nil
}

// expiringLocked: the expiry is known and near, and we did not just refresh (a server
// that hands out very short tokens must not make every call refresh).
func (o *oauthSource) expiringLocked() bool {
	if o.tok.Expiry.IsZero() {
		return false
	}
	now := time.Now()
	return !now.Add(expiryMargin).Before(o.tok.Expiry) && now.Sub(o.lastRefresh) > expiryMargin
}

func (o *oauthSource) refreshExpired(ctx context.Context, stale string) error {
	o.mu.Lock()
	if o.inflight == nil && o.tok.AccessToken != stale {
		o.mu.Unlock() // another caller already refreshed: replay with the new token
		return nil
	}
	call := o.startLocked()
	o.mu.Unlock()
	return waitRefresh(ctx, call)
}

// startLocked joins the refresh under way or starts one. It runs detached from the
// caller's cancellation (its result is shared), bounded by the client's timeout.
func (o *oauthSource) startLocked() *refreshCall {
	if o.inflight != nil {
		return o.inflight
	}
	call := &refreshCall{done: make(chan struct{})}
	if o.dead != nil {
		call.err = o.dead
		close(call.done)
		return call
	}
	o.inflight = call
	go o.run(call, o.tok.RefreshToken)
	return call
}

func waitRefresh(ctx context.Context, call *refreshCall) error {
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return fmt.Errorf("bitrix24: waiting for the token refresh: %w", ctx.Err())
	}
}

func (o *oauthSource) run(call *refreshCall, refreshToken string) {
	ctx := context.Background()
	if t := o.c.opts.timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*t)
		defer cancel()
	}
	tok, err := o.fetch(ctx, refreshToken)
	if err == nil {
		o.c.secrets.Add(tok.AccessToken, tok.RefreshToken)
		if o.cfg.OnTokenRefresh != nil {
			if herr := o.cfg.OnTokenRefresh(ctx, tok); herr != nil {
				// The old refresh token is spent: keep the new pair all the same.
				err = fmt.Errorf("bitrix24: OnTokenRefresh: %w", herr)
			}
		}
	}
	o.mu.Lock()
	if tok.AccessToken != "" {
		o.tok = tok
		o.lastRefresh = time.Now()
	}
	if errors.Is(err, ErrInvalidGrant) || errors.Is(err, ErrInvalidClient) {
		o.dead = err
	}
	o.inflight = nil
	o.mu.Unlock()
	call.err = err
	close(call.done)
}

// tokenAnswer is the token endpoint's JSON; every field but the tokens is optional.
type tokenAnswer struct {
	AccessToken    string          `json:"access_token"`
	RefreshToken   string          `json:"refresh_token"`
	Expires        json.Number     `json:"expires"`
	ExpiresIn      json.Number     `json:"expires_in"`
	Scope          string          `json:"scope"`
	MemberID       string          `json:"member_id"`
	ClientEndpoint string          `json:"client_endpoint"`
	ServerEndpoint string          `json:"server_endpoint"`
	UserID         json.RawMessage `json:"user_id"`
}

// fetch asks the token endpoint for a new pair with a form POST: the client secret and
// the refresh token never go into a URL.
func (o *oauthSource) fetch(ctx context.Context, refreshToken string) (Token, error) {
	resp, err := o.c.rc.R().
		SetContext(ctx).
		SetFormData(map[string]string{
			"grant_type":    "refresh_token",
			"client_id":     o.cfg.ClientID,
			"client_secret": o.cfg.ClientSecret,
			"refresh_token": refreshToken,
		}).
		SetHeader("Accept", "application/json").
		SetDoNotParseResponse(true).
		Post(o.tokenURL)
	if err != nil {
		return Token{}, o.c.transportError(refreshMethod, err)
	}
	raw := resp.RawBody()
	defer raw.Close()
	status := resp.StatusCode()
	data, err := io.ReadAll(io.LimitReader(raw, 1<<20))
	if err != nil {
		return Token{}, fmt.Errorf("bitrix24: %s: reading the answer: %w", refreshMethod, o.c.redactError(err))
	}
	var ans tokenAnswer
	_, apiErr, _ := envelope.Decode(data)
	if apiErr != nil {
		return Token{}, &APIError{Code: apiErr.Code, Description: o.c.secrets.String(apiErr.Description),
			StatusCode: status, Method: refreshMethod}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&ans); err != nil || ans.AccessToken == "" || ans.RefreshToken == "" || status >= 300 {
		o.c.secrets.Add(ans.AccessToken, ans.RefreshToken)
		return Token{}, o.c.unexpected(refreshMethod, status, "not a token answer", data)
	}
	tok := Token{
		AccessToken:    ans.AccessToken,
		RefreshToken:   ans.RefreshToken,
		Scope:          ans.Scope,
		MemberID:       ans.MemberID,
		ClientEndpoint: ans.ClientEndpoint,
		ServerEndpoint: ans.ServerEndpoint,
	}
	if exp, err := ans.Expires.Int64(); err == nil && exp > 0 {
		tok.Expiry = time.Unix(exp, 0)
	} else if in, err := ans.ExpiresIn.Int64(); err == nil && in > 0 {
		tok.Expiry = time.Now().Add(time.Duration(in) * time.Second)
	}
	tok.UserID, _ = strconv.Atoi(strings.Trim(string(ans.UserID), `" `))
	return tok, nil
}
