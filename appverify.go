package bitrix24

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/b24go/bitrix24/internal/redact"
)

// verifiedToken is a positive app.info answer, kept until expires.
type verifiedToken struct {
	info    appInfo
	expires time.Time
}

// appInfo is what the authorization server's app.info says about a token.
type appInfo struct {
	ClientID       string
	UserID         int
	MemberID       string
	Domain         string
	ClientEndpoint string
	Status         string
	Expires        time.Time     // when the token expires, by the authorization server's clock; zero if not said
	Skew           time.Duration // our clock minus the server's, from the answer's time block; 0 if not said
}

// Verify checks, through app.info on the authorization server, that the request's
// AUTH_ID is a live token of this application (client id) for the member id and the
// domain the request claims. The server is the one SERVER_ENDPOINT names when the App
// trusts it ([App.AuthServers]; a request naming another is refused), or the App's
// default for older portals that send none. Answers are cached per token: positive ones
// for a minute, refusals for a few seconds; at most a few verifications run at once.
//
// It fails with an error matching [ErrNotVerified] when the request is not shown
// genuine (and also the server's sentinel, e.g. [ErrInvalidToken], when the server
// refused the token), [ErrValidation] when the request lacks member_id or DOMAIN, and a
// wrapped transport error or [ErrUnexpectedResponse] when the server could not answer.
func (a *App) Verify(ctx context.Context, r *AppRequest) error {
	_, _, err := a.verify(ctx, r)
	return err
}

// verify returns app.info's answer and the trusted server that gave it.
func (a *App) verify(ctx context.Context, r *AppRequest) (appInfo, string, error) {
	if err := a.check(ctx, false); err != nil {
		return appInfo{}, "", err
	}
	switch {
	case r == nil:
		return appInfo{}, "", invalid("AppRequest", "must not be nil")
	case r.Token.MemberID == "":
		return appInfo{}, "", invalid("AppRequest.Token.MemberID", "must not be empty")
	case r.Domain == "":
		return appInfo{}, "", invalid("AppRequest.Domain", "must not be empty")
	case r.Token.AccessToken == "":
		return appInfo{}, "", fmt.Errorf("%w: %w", ErrNotVerified, errNoAuthID)
	}
	server, err := a.serverFor(r.Token.ServerEndpoint)
	if err != nil {
		return appInfo{}, "", err
	}
	info, err := a.verifyToken(ctx, server, r.Token.AccessToken, r.Token.MemberID, r.Domain,
		r.Token.RefreshToken, r.ApplicationToken)
	return info, server, err
}

// Limits of verification: how long a refusal is remembered, and how many app.info calls
// run at once (each forged request would otherwise cost the authorization server one).
const (
	refusalCacheTTL  = 10 * time.Second
	maxVerifications = 8
)

// refusal is a remembered refusal of a token by the authorization server.
type refusal struct {
	err     error
	expires time.Time
}

// verifyToken asks server's app.info about token (or finds a fresh answer in the
// caches) and requires this client id, memberID and domain.
// The server sees only token, but an answer may quote anything: none of token, extra
// (the request's other secrets) and the App's secrets reaches the error.
func (a *App) verifyToken(ctx context.Context, server, token, memberID, domain string, extra ...string) (appInfo, error) {
	sum := sha256.Sum256([]byte(token))
	st := a.st()
	st.mu.Lock()
	hit, ok := st.cache[sum]
	ref, refused := st.refusals[sum]
	now := st.now()
	st.mu.Unlock()
	switch {
	case ok && now.Before(hit.expires):
		return hit.info, matchInfo(hit.info, a.ClientID, memberID, domain)
	case refused && now.Before(ref.expires):
		return appInfo{}, ref.err
	}
	select {
	case st.verifies <- struct{}{}:
		defer func() { <-st.verifies }()
	case <-ctx.Done():
		return appInfo{}, fmt.Errorf("bitrix24: waiting to verify the token: %w", ctx.Err())
	}
	info, err := a.appInfo(ctx, server, token, extra...)
	st.mu.Lock()
	defer st.mu.Unlock()
	now = st.now()
	if err != nil {
		if errors.Is(err, ErrNotVerified) {
			pruneExpired(st.refusals, now, func(r refusal) time.Time { return r.expires })
			st.refusals[sum] = refusal{err: err, expires: now.Add(refusalCacheTTL)}
		}
		return appInfo{}, err
	}
	pruneExpired(st.cache, now, func(v verifiedToken) time.Time { return v.expires })
	st.cache[sum] = verifiedToken{info: info, expires: now.Add(verifyCacheTTL)}
	return info, matchInfo(info, a.ClientID, memberID, domain)
}

// pruneExpired makes room in a cache that reached verifyCacheMax: expired entries go,
// then all.
func pruneExpired[V any](m map[[sha256.Size]byte]V, now time.Time, expires func(V) time.Time) {
	if len(m) < verifyCacheMax {
		return
	}
	for k, v := range m {
		if !now.Before(expires(v)) {
			delete(m, k)
		}
	}
	if len(m) >= verifyCacheMax {
		clear(m)
	}
}

// matchInfo compares app.info's answer with what the request claims.
func matchInfo(info appInfo, clientID, memberID, domain string) error {
	switch {
	case info.ClientID != clientID:
		return fmt.Errorf("%w: the token belongs to another application", ErrNotVerified)
	case info.MemberID != memberID:
		return fmt.Errorf("%w: the token belongs to another portal than member_id says", ErrNotVerified)
	case !sameHost(info.Domain, domain):
		return fmt.Errorf("%w: the token's portal is not the domain the request names", ErrNotVerified)
	}
	return nil
}

// sameHost compares host names case-insensitively, ignoring the default ports.
func sameHost(a, b string) bool {
	norm := func(h string) string {
		h = strings.ToLower(strings.TrimSpace(h))
		return strings.TrimSuffix(strings.TrimSuffix(h, ":443"), ":80")
	}
	return a != "" && norm(a) == norm(b)
}

// appInfoWire is the authorization server's app.info result.
type appInfoWire struct {
	ClientID string          `json:"client_id"`
	UserID   json.RawMessage `json:"user_id"`
	Expires  string          `json:"expires"`
	Install  struct {
		Domain         string `json:"domain"`
		MemberID       string `json:"member_id"`
		ClientEndpoint string `json:"client_endpoint"`
		Status         string `json:"status"`
	} `json:"install"`
}

// appInfo calls app.info on the authorization server (a trusted REST base) with token,
// sent in a form body. Errors show none of token, extra and the App's secrets.
func (a *App) appInfo(ctx context.Context, server, token string, extra ...string) (appInfo, error) {
	tr, base, err := a.endpoint("App.ServerEndpoint", server, DefaultServerEndpoint)
	if err != nil {
		return appInfo{}, err
	}
	tr.secrets.Add(token)
	secrets := tr.secrets
	if len(extra) > 0 {
		// A set of this call's own: the request's other secrets are never sent, so they
		// need not join the App's.
		secrets = &redact.Secrets{}
		secrets.AddPinned(append(tr.secrets.List(), extra...)...)
	}
	ans, err := tr.postForm(ctx, strings.TrimRight(base, "/")+"/"+appInfoMethod,
		url.Values{"auth": {token}}, true)
	if err != nil {
		return appInfo{}, fmt.Errorf("bitrix24: %s: %w", appInfoMethod, err)
	}
	arrived := time.Now()
	defer ans.release()
	status, body := ans.status, ans.body
	env, err := decodeAnswer(secrets, appInfoMethod, ans, maxOAuthAnswer)
	if err != nil {
		var e *APIError
		if errors.As(err, &e) && refusesToken(e) {
			return appInfo{}, fmt.Errorf("%w: %w", ErrNotVerified, e)
		}
		return appInfo{}, err // the server could not answer (limits, a wrong endpoint, ...)
	}
	var w appInfoWire
	if err := json.Unmarshal(env.Result, &w); err != nil || w.ClientID == "" || w.Install.MemberID == "" {
		// The portal's own app.info has neither: ServerEndpoint points at a portal.
		return appInfo{}, unexpectedAnswer(secrets, appInfoMethod, status,
			"no client_id and install.member_id: is ServerEndpoint the authorization server?", body)
	}
	expires, _ := time.Parse(time.RFC3339, w.Expires)
	var skew time.Duration
	if f := env.Time.Finish; f > 0 && f < maxUnixTime {
		skew = arrived.Sub(time.Unix(0, int64(f*float64(time.Second))))
	}
	return appInfo{
		Expires:        expires,
		Skew:           skew,
		ClientID:       w.ClientID,
		UserID:         jsonInt(w.UserID),
		MemberID:       w.Install.MemberID,
		Domain:         w.Install.Domain,
		ClientEndpoint: w.Install.ClientEndpoint,
		Status:         w.Install.Status,
	}, nil
}

// verifyEventToken checks an install or update event's access token with app.info on
// server against the event's member id and domain.
func (a *App) verifyEventToken(ctx context.Context, server string, ev *Event) (appInfo, error) {
	if ev.Auth.Domain == "" {
		return appInfo{}, invalid("auth[domain]", "must not be empty")
	}
	return a.verifyToken(ctx, server, ev.Auth.Token.AccessToken, ev.Auth.Token.MemberID, ev.Auth.Domain,
		ev.Auth.Token.RefreshToken, ev.Auth.ApplicationToken)
}

// isAdmin asks the portal (at the client_endpoint app.info named, or the verified
// domain) whether token's user is an administrator (user.admin).
func (a *App) isAdmin(ctx context.Context, info appInfo, token string) (bool, error) {
	endpoint := info.ClientEndpoint
	if endpoint == "" {
		endpoint = "https://" + info.Domain + "/rest/"
	}
	portal := strings.TrimSuffix(strings.TrimRight(endpoint, "/"), "/rest")
	c, err := NewOAuthClient(OAuthConfig{PortalURL: portal, ClientID: a.ClientID, ClientSecret: a.ClientSecret,
		Token: Token{AccessToken: token}, TokenURL: a.TokenURL}, a.Options...)
	if err != nil {
		return false, err
	}
	var admin bool
	if err := c.Call(ctx, "user.admin", nil, &admin); err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && refusesToken(apiErr) {
			return false, fmt.Errorf("%w: %w", ErrNotVerified, err)
		}
		return false, err
	}
	return admin, nil
}

// refusesToken reports the app.info errors that say the token is no good (rather than
// that the server could not answer).
func refusesToken(e *APIError) bool {
	for _, target := range []error{ErrInvalidToken, ErrExpiredToken, ErrNoAuthFound, ErrUserAccess,
		ErrInvalidClient, ErrAccessDenied, ErrPortalDeleted, ErrWrongAuthType} {
		if e.Is(target) {
			return true
		}
	}
	return false
}
