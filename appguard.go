package bitrix24

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// What keeps a user of the application, who holds a genuine token of it and reads its
// application_token, from uninstalling it, rolling its pairs back or redirecting them:
// a stored pair is replaced only by a newer one, or when it no longer works, and a
// portal is forgotten only once its stored pair is refused.

// pairCheckMethod is the call that shows a stored pair still works: user.admin needs
// no scope, and the client refreshes an expired access token on the way.
const pairCheckMethod = "user.admin"

// ClientFor verifies r ([App.Verify]) and returns a client acting as the calling user
// (the user id comes from the authorization server): user.option.* then stores that
// user's settings. The client calls the portal at the client_endpoint the authorization
// server names, not at the request's DOMAIN, and refreshes at the token endpoint of the
// server that issued the pair.
//
// The request's pair is saved under {MemberID, UserID} only when none is stored there,
// or when the stored one is refused (revoked, spent): a page POST handled again after
// the App rotated that user's pair must not put the spent one back. Otherwise the
// client acts with the stored pair.
func (a *App) ClientFor(ctx context.Context, r *AppRequest, opts ...Option) (*Client, error) {
	info, server, err := a.verify(ctx, r)
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
	tok.ServerEndpoint = server
	key := TokenKey{MemberID: tok.MemberID, UserID: info.UserID}
	stored, err := a.store().Load(ctx, key)
	switch {
	case err != nil && !errors.Is(err, ErrTokenNotFound):
		return nil, fmt.Errorf("bitrix24: loading the pair under %v: %w", key, err)
	case err == nil && stored.AccessToken != "" && stored.ClientEndpoint != "":
		if stored.AccessToken == tok.AccessToken || stored.RefreshToken == tok.RefreshToken {
			return a.remember(key, stored, opts)
		}
		c, err := a.newClient(key, stored, opts)
		if err != nil {
			return nil, err
		}
		works, err := a.pairWorks(ctx, c, stored, true)
		if err != nil {
			return nil, err
		}
		if works {
			return a.remember(key, stored, opts)
		}
	}
	if err := a.store().Save(ctx, key, tok); err != nil {
		return nil, fmt.Errorf("bitrix24: saving the pair under %v: %w", key, err)
	}
	return a.remember(key, tok, opts)
}

// remember notes a user pair of memberID (forgotten with the portal) and returns a client
// acting with it.
func (a *App) remember(key TokenKey, tok Token, opts []Option) (*Client, error) {
	st := a.st()
	st.mu.Lock()
	if st.users[key.MemberID] == nil {
		st.users[key.MemberID] = map[int]struct{}{}
	}
	st.users[key.MemberID][key.UserID] = struct{}{}
	st.mu.Unlock()
	return a.newClient(key, tok, opts)
}

// pairWorks calls the portal with c, a client on the stored pair tok: true when the
// portal accepts the pair (even if it then refuses the method), false when it refuses
// the pair (see pairRefused), an error when it cannot tell. A pair the client rotates on the way is saved to the store. With
// cached, a pair that worked less than a minute ago is not tried again.
func (a *App) pairWorks(ctx context.Context, c *Client, tok Token, cached bool) (bool, error) {
	sum := sha256.Sum256([]byte(tok.AccessToken))
	st := a.st()
	if cached {
		st.mu.Lock()
		until, ok := st.alive[sum]
		now := st.now()
		st.mu.Unlock()
		if ok && now.Before(until) {
			return true, nil
		}
	}
	var admin bool
	err := c.Call(ctx, pairCheckMethod, nil, &admin)
	var apiErr *APIError
	switch {
	case pairRefused(err):
		return false, nil
	case err == nil || errors.As(err, &apiErr) && recognizesPair(err):
		st.mu.Lock()
		now := st.now()
		pruneExpired(st.alive, now, func(t time.Time) time.Time { return t })
		st.alive[sum] = now.Add(verifyCacheTTL)
		st.mu.Unlock()
		return true, nil
	}
	return false, fmt.Errorf("bitrix24: checking the stored pair: %w", err)
}

// pairRefused reports the answers that say a pair no longer works: the portal does not
// know its access token, or its refresh token is refused, or the portal or the
// application is gone. A wrong client secret (invalid_client) is not among them: it says
// nothing about the pair.
func pairRefused(err error) bool {
	for _, target := range []error{ErrInvalidToken, ErrExpiredToken, ErrInvalidGrant, ErrNoAuthFound, ErrPortalDeleted} {
		if errors.Is(err, target) {
			return true
		}
	}
	var apiErr *APIError
	return errors.As(err, &apiErr) && strings.EqualFold(apiErr.Code, "APPLICATION_NOT_FOUND")
}

// recognizesPair: an error of the portal that comes after the token was accepted (the
// user lost access, the plan or the scope does not allow the method, ...) shows the pair
// works. Limits and server failures say nothing.
func recognizesPair(err error) bool {
	for _, target := range []error{ErrQueryLimitExceeded, ErrOperationTimeLimit, ErrInternal, ErrMethodNotFound} {
		if errors.Is(err, target) {
			return false
		}
	}
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode < 500
}

// uninstall handles an ONAPPUNINSTALL that carries the stored application_token. The
// portal revokes the application's tokens before it sends the event, so the portal is
// forgotten only once its stored pair is refused: a user of the application can read
// the application_token, but not make the portal refuse the installation's pair. While
// the pair works, the event is refused (403) and nothing is deleted; a pair rotated
// while checking stays saved.
//
// The stored pair is read again after the check: a pair stored meanwhile (the portal
// was installed again) is checked in turn, not forgotten with the old one.
func (a *App) uninstall(ctx context.Context, member string) (int, error) {
	key := TokenKey{MemberID: member}
	checked := ""
	for range 3 {
		stored, err := a.store().Load(ctx, key)
		switch {
		case err != nil && !errors.Is(err, ErrTokenNotFound):
			return http.StatusServiceUnavailable, fmt.Errorf("bitrix24: loading the install pair: %w", err)
		case err != nil || stored.AccessToken == "" || stored.AccessToken == checked:
			return a.forgetPortal(ctx, member)
		}
		c, err := a.newClient(key, stored, nil)
		if err != nil {
			return http.StatusInternalServerError, err
		}
		works, err := a.pairWorks(ctx, c, stored, false)
		if err != nil {
			return http.StatusServiceUnavailable, err
		}
		if works {
			return http.StatusForbidden, fmt.Errorf("%w: ONAPPUNINSTALL, but the portal still accepts the installation's pair", ErrNotVerified)
		}
		checked = stored.AccessToken
	}
	return http.StatusServiceUnavailable, errors.New("bitrix24: the installation's pair keeps changing; try the uninstall again")
}

// forgetPortal forgets member once uninstall has shown the installation gone.
func (a *App) forgetPortal(ctx context.Context, member string) (int, error) {
	if err := a.forget(ctx, member); err != nil {
		return http.StatusInternalServerError, err
	}
	return 0, nil
}

// eventExpiry is when the pair of an install or update event expires: as app.info says
// (the event's own fields can be forged), else the event's expires, else its ts plus
// expires_in; each moved from the authorization server's clock to ours by the skew
// app.info's answer showed. Zero when unknown.
func eventExpiry(info appInfo, ev *Event) time.Time {
	var exp time.Time
	switch {
	case !info.Expires.IsZero():
		exp = info.Expires
	case !ev.expires.IsZero():
		exp = ev.expires
	case !ev.Timestamp.IsZero() && ev.expiresIn > 0:
		exp = ev.Timestamp.Add(ev.expiresIn)
	default:
		return time.Time{}
	}
	return exp.Add(info.Skew)
}

// appliedTTL is how long the App remembers the pairs of the events it stored: longer
// than an access token lives, so that a replay is known as one while app.info still
// vouches for its token.
const appliedTTL = 2 * time.Hour

// olderThanStored reports whether the pair of ev must not replace stored: it is the
// stored pair, or one this App already stored (a duplicate delivery or a replay), or it
// expires in an earlier second than the stored pair (a replay of an event older than
// the stored pair's last rotation, seen by another process).
func (a *App) olderThanStored(stored Token, ev *Event, info appInfo) bool {
	tok := ev.Auth.Token
	st := a.st()
	st.mu.Lock()
	until, seen := st.applied[sha256.Sum256([]byte(tok.AccessToken))]
	seen = seen && st.now().Before(until)
	st.mu.Unlock()
	switch {
	case seen:
		return true
	case stored.AccessToken == "":
		return false
	case stored.AccessToken == tok.AccessToken || (tok.RefreshToken != "" && stored.RefreshToken == tok.RefreshToken):
		return true
	case stored.Expiry.IsZero():
		return false
	}
	exp := eventExpiry(info, ev)
	return exp.IsZero() || exp.Unix() < stored.Expiry.Unix()
}

// claim reports whether this delivery stores the pair of an event: false when the pair
// was stored already. A delivery of the same event that is storing it meanwhile is
// waited for (ctx bounds the wait): a duplicate delivered at the same time runs
// nothing, yet does not answer 200 before the pair is stored. Each true must be
// followed by finish.
func (a *App) claim(ctx context.Context, accessToken string) (bool, error) {
	st := a.st()
	sum := sha256.Sum256([]byte(accessToken))
	for {
		st.mu.Lock()
		if until, seen := st.applied[sum]; seen && st.now().Before(until) {
			st.mu.Unlock()
			return false, nil
		}
		pending := st.storing[sum]
		if pending == nil {
			st.storing[sum] = make(chan struct{})
			st.mu.Unlock()
			return true, nil
		}
		st.mu.Unlock()
		select {
		case <-pending:
		case <-ctx.Done():
			return false, fmt.Errorf("bitrix24: waiting for a delivery of the same event: %w", ctx.Err())
		}
	}
}

// finish ends a claim: stored says whether the pair was saved (else a duplicate that
// waited stores it itself).
func (a *App) finish(accessToken string, stored bool) {
	st := a.st()
	sum := sha256.Sum256([]byte(accessToken))
	st.mu.Lock()
	defer st.mu.Unlock()
	if stored {
		now := st.now()
		pruneExpired(st.applied, now, func(t time.Time) time.Time { return t })
		st.applied[sum] = now.Add(appliedTTL)
	}
	if ch := st.storing[sum]; ch != nil {
		delete(st.storing, sum)
		close(ch)
	}
}

// forget removes what the App stores for memberID: the installation's pair, its
// application_token and the user pairs this App saved. Stores with a
// Delete(ctx, TokenKey) method (such as [MemoryTokenStore]) delete them; on others
// they are overwritten with an empty pair, which [App.Client] treats as not found.
func (a *App) forget(ctx context.Context, memberID string) error {
	keys := []TokenKey{{MemberID: memberID}, ApplicationTokenKey(memberID)}
	state := a.st()
	state.mu.Lock()
	for uid := range state.users[memberID] {
		keys = append(keys, TokenKey{MemberID: memberID, UserID: uid})
	}
	delete(state.users, memberID)
	for k, v := range state.cache {
		if v.info.MemberID == memberID {
			delete(state.cache, k)
		}
	}
	state.mu.Unlock()
	st := a.store()
	var errs []error
	for _, k := range keys {
		var err error
		if d, ok := st.(interface {
			Delete(context.Context, TokenKey) error
		}); ok {
			err = d.Delete(ctx, k)
		} else {
			err = st.Save(ctx, k, Token{MemberID: memberID})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("bitrix24: forgetting %v: %w", k, err))
		}
	}
	return errors.Join(errs...)
}
