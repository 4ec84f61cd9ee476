package bitrix24

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// What happens once the token endpoint has answered a refresh: a refusal may mean the
// pair was rotated elsewhere; a new pair is saved, shown to OnTokenRefresh, then used.

// refused handles a failed refresh. invalid_grant may only mean that another client
// rotated the pair: with a store, the pair it saved is adopted.
func (o *tokenSource) refused(ctx context.Context, used Token, err error) error {
	if !errors.Is(err, ErrInvalidGrant) && !errors.Is(err, ErrInvalidClient) {
		return err
	}
	if o.cfg.store != nil && errors.Is(err, ErrInvalidGrant) {
		if stored, ok := o.rotatedElsewhere(ctx, used); ok {
			o.adopt(stored)
			return nil
		}
	}
	if errors.Is(err, ErrInvalidGrant) {
		hint := "the pair was probably rotated by another client or process holding it (share it through OAuthConfig.Store)"
		if o.cfg.store != nil {
			hint = "the stored pair is spent or revoked; the application must be authorized again"
		}
		err = fmt.Errorf("bitrix24: refreshing the token pair: %s: %w", hint, err)
	}
	o.mu.Lock()
	o.dead, o.deadRefresh = err, used.RefreshToken
	o.mu.Unlock()
	return err
}

// rotatedElsewhere looks in the store for a pair newer than used. A store without a lock
// lets two clients refresh at once, and so does a locked one whose lease its holder lost
// (a failover, a partition, a paused process): the loser's invalid_grant can arrive
// before the winner has saved its pair, so the store is read again for a short while.
func (o *tokenSource) rotatedElsewhere(ctx context.Context, used Token) (Token, bool) {
	tries := int(rotationGrace / rotationPoll)
	for i := range tries {
		if stored, err := o.cfg.store.Load(ctx, o.cfg.key); err == nil && stored.RefreshToken != used.RefreshToken {
			return stored, true
		}
		if i+1 < tries && sleepCtx(ctx, rotationPoll) != nil {
			break
		}
	}
	return Token{}, false
}

// rotationGrace and rotationPoll bound how long a client refused with invalid_grant waits
// for the pair of the client that won a refresh race.
const (
	rotationGrace = 2 * time.Second
	rotationPoll  = 50 * time.Millisecond
)

// publish saves the new pair, shows it to OnTokenRefresh, then makes it current. The old
// refresh token is spent, so the pair is kept even when saving or the callback fails;
// a failed save is tried again before the next call.
// With a store that swaps (compare-and-set against read, the pair it replaces), a newer
// pair found there instead is adopted and the new one dropped.
func (o *tokenSource) publish(ctx context.Context, read, tok Token) error {
	o.cfg.secrets.Add(tok.AccessToken, tok.RefreshToken)
	var saveErr, cbErr error
	if o.cfg.store != nil {
		use, err := o.save(ctx, read, tok)
		if err != nil {
			saveErr = fmt.Errorf("bitrix24: saving the refreshed token pair under %v (kept in memory; saving again on the next call): %w", o.cfg.key, err)
		} else if use.RefreshToken != tok.RefreshToken || use.AccessToken != tok.AccessToken {
			o.adopt(use) // a newer pair was saved meanwhile: it wins
			return nil
		}
	}
	if o.cfg.onRefresh != nil {
		cbErr = o.callback(ctx, tok)
	}
	o.mu.Lock()
	o.tok, o.loaded, o.unsaved, o.replaces = tok, true, saveErr != nil, read
	o.lastRefresh, o.notBefore = time.Now(), time.Time{}
	o.pending = Token{}
	o.dead = nil
	o.mu.Unlock()
	return errors.Join(saveErr, cbErr)
}

// callback runs OnTokenRefresh. A call it makes through the client uses the new pair
// (see accessToken); a panic becomes an error.
func (o *tokenSource) callback(ctx context.Context, tok Token) (err error) {
	o.mu.Lock()
	o.pending = tok
	o.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bitrix24: OnTokenRefresh panicked: %v", r)
		}
	}()
	if herr := o.cfg.onRefresh(context.WithValue(ctx, callbackKey{}, o), tok); herr != nil {
		return fmt.Errorf("bitrix24: OnTokenRefresh: %w", herr)
	}
	return nil
}

// nearExpiry: a stored pair that would itself need a proactive refresh.
func nearExpiry(t Token) bool {
	return !t.Expiry.IsZero() && !time.Now().Add(expiryMargin).Before(t.Expiry)
}

// keepPortal: a refresh never moves a pair to another portal. An answer naming another
// member_id than the pair's (or its key's) is a bad answer; the new pair is kept all the
// same (the refresh token that bought it is spent), under its own member id.
func (o *tokenSource) keepPortal(t *Token, old Token) error {
	want := old.MemberID
	if want == "" {
		want = o.cfg.key.MemberID
	}
	if want == "" || t.MemberID == want {
		return nil
	}
	t.MemberID = want
	return unexpectedAnswer(o.cfg.secrets, refreshMethod, http.StatusOK,
		"the refreshed pair names another portal (member_id) than the pair it replaces; kept under its own", nil)
}

// fillFrom completes a refreshed pair with what the token endpoint may leave out.
func fillFrom(t *Token, old Token) {
	if t.MemberID == "" {
		t.MemberID = old.MemberID
	}
	if t.ClientEndpoint == "" {
		t.ClientEndpoint = old.ClientEndpoint
	}
	if t.ServerEndpoint == "" {
		t.ServerEndpoint = old.ServerEndpoint
	}
	if t.UserID == 0 {
		t.UserID = old.UserID
	}
	if t.Scope == "" {
		t.Scope = old.Scope
	}
}
