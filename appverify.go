package bitrix24

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
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
}

// Verify checks, through app.info on the authorization server ([App.ServerEndpoint]),
// that the request's AUTH_ID is a live token of this application (client id) for the
// member id and the domain the request claims. Positive answers are cached for a minute
// per token.
//
// It fails with an error matching [ErrNotVerified] when the request is not shown
// genuine (and also the server's sentinel, e.g. [ErrInvalidToken], when the server
// refused the token), [ErrValidation] when the request lacks member_id or DOMAIN, and a
// wrapped transport error or [ErrUnexpectedResponse] when the server could not answer.
func (a *App) Verify(ctx context.Context, r *AppRequest) error {
	_, err := a.verify(ctx, r)
	return err
}

func (a *App) verify(ctx context.Context, r *AppRequest) (appInfo, error) {
	if err := a.check(ctx, false); err != nil {
		return appInfo{}, err
	}
	switch {
	case r == nil:
		return appInfo{}, invalid("AppRequest", "must not be nil")
	case r.Token.MemberID == "":
		return appInfo{}, invalid("AppRequest.Token.MemberID", "must not be empty")
	case r.Domain == "":
		return appInfo{}, invalid("AppRequest.Domain", "must not be empty")
	case r.Token.AccessToken == "":
		return appInfo{}, fmt.Errorf("%w: %w", ErrNotVerified, errNoAuthID)
	}
	return a.verifyToken(ctx, r.Token.AccessToken, r.Token.MemberID, r.Domain)
}

// verifyToken asks app.info about token (or finds a fresh positive answer in the
// cache) and requires this client id, memberID and domain.
func (a *App) verifyToken(ctx context.Context, token, memberID, domain string) (appInfo, error) {
	sum := sha256.Sum256([]byte(token))
	st := a.st()
	st.mu.Lock()
	hit, ok := st.cache[sum]
	now := st.now()
	st.mu.Unlock()
	if ok && now.Before(hit.expires) {
		return hit.info, matchInfo(hit.info, a.ClientID, memberID, domain)
	}
	info, err := a.appInfo(ctx, token)
	if err != nil {
		return appInfo{}, err
	}
	if err := matchInfo(info, a.ClientID, memberID, domain); err != nil {
		return appInfo{}, err
	}
	st.mu.Lock()
	if len(st.cache) >= verifyCacheMax {
		for k, v := range st.cache {
			if !now.Before(v.expires) {
				delete(st.cache, k)
			}
		}
		if len(st.cache) >= verifyCacheMax {
			clear(st.cache)
		}
	}
	st.cache[sum] = verifiedToken{info: info, expires: st.now().Add(verifyCacheTTL)}
	st.mu.Unlock()
	return info, nil
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
	Install  struct {
		Domain         string `json:"domain"`
		MemberID       string `json:"member_id"`
		ClientEndpoint string `json:"client_endpoint"`
		Status         string `json:"status"`
	} `json:"install"`
}

// appInfo calls app.info on the authorization server with token, sent in a form body.
func (a *App) appInfo(ctx context.Context, token string) (appInfo, error) {
	tr, base, err := a.endpoint("App.ServerEndpoint", a.ServerEndpoint, DefaultServerEndpoint)
	if err != nil {
		return appInfo{}, err
	}
	secrets := tr.secrets
	secrets.Add(token)
	ans, err := tr.postForm(ctx, strings.TrimRight(base, "/")+"/"+appInfoMethod,
		url.Values{"auth": {token}}, true)
	if err != nil {
		return appInfo{}, fmt.Errorf("bitrix24: %s: %w", appInfoMethod, err)
	}
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
	return appInfo{
		ClientID:       w.ClientID,
		UserID:         jsonInt(w.UserID),
		MemberID:       w.Install.MemberID,
		Domain:         w.Install.Domain,
		ClientEndpoint: w.Install.ClientEndpoint,
		Status:         w.Install.Status,
	}, nil
}

// verifyEventToken checks an install or update event's access token with app.info
// against the event's member id and domain.
func (a *App) verifyEventToken(ctx context.Context, ev *Event) (appInfo, error) {
	if ev.Auth.Domain == "" {
		return appInfo{}, invalid("auth[domain]", "must not be empty")
	}
	return a.verifyToken(ctx, ev.Auth.Token.AccessToken, ev.Auth.Token.MemberID, ev.Auth.Domain)
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

// ClientFor verifies r ([App.Verify]), saves the calling user's pair under {MemberID,
// UserID} (the user id comes from the authorization server), and returns a client
// acting as that user: user.option.* then stores that user's settings. The client
// calls the portal at the client_endpoint the authorization server names, not at the
// request's DOMAIN.
func (a *App) ClientFor(ctx context.Context, r *AppRequest, opts ...Option) (*Client, error) {
	info, err := a.verify(ctx, r)
	if err != nil {
		return nil, err
	}
	if info.UserID <= 0 {
		return nil, &UnexpectedResponseError{Method: appInfoMethod, StatusCode: http.StatusOK,
			Reason: "app.info named no user_id for the token"}
	}
	tok := r.Token
	tok.UserID = info.UserID
	if info.ClientEndpoint != "" {
		tok.ClientEndpoint = info.ClientEndpoint
	} else {
		tok.ClientEndpoint = r.PortalURL() + "/rest/"
	}
	// The request's SERVER_ENDPOINT is not trusted: keep the App's.
	tok.ServerEndpoint = a.ServerEndpoint
	if tok.ServerEndpoint == "" {
		tok.ServerEndpoint = DefaultServerEndpoint
	}
	key := TokenKey{MemberID: tok.MemberID, UserID: info.UserID}
	if err := a.store().Save(ctx, key, tok); err != nil {
		return nil, fmt.Errorf("bitrix24: saving the pair under %v: %w", key, err)
	}
	st := a.st()
	st.mu.Lock()
	if st.users[key.MemberID] == nil {
		st.users[key.MemberID] = map[int]struct{}{}
	}
	st.users[key.MemberID][key.UserID] = struct{}{}
	st.mu.Unlock()
	return a.newClient(key, tok, opts)
}
