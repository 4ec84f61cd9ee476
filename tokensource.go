package bitrix24

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/b24go/bitrix24/internal/redact"
)

// expiryMargin is how long before Token.Expiry the token is refreshed proactively, so
// that a call does not leave with a token that dies on the way.
const expiryMargin = 30 * time.Second

// proactiveRetryDelay is how long a failed proactive refresh waits before the next try;
// meanwhile calls use the token that is still valid.
const proactiveRetryDelay = 5 * time.Second

// tokenSourceConfig is everything a token source needs. It does not know the Client: it
// gets the token endpoint (which posts through the client's transport), the redaction
// set and its own deadline.
type tokenSourceConfig struct {
	restBase  string
	endpoint  tokenEndpoint
	onRefresh func(ctx context.Context, t Token) error
	store     TokenStore
	key       TokenKey
	initial   Token
	secrets   *redact.Secrets
	timeout   time.Duration
	observer  *Observer // nil: none (TokenWait, TokenRefresh)
}

// tokenSource holds the OAuth pair and keeps it alive: it loads it from the store,
// refreshes it once for all goroutines (and, through the store's lock, once for all
// clients and processes sharing the store), and saves every new pair.
type tokenSource struct {
	cfg tokenSourceConfig

	mu          sync.Mutex
	tok         Token
	loaded      bool      // tok holds the pair (from the config or the store)
	unsaved     bool      // tok is newer than the store's pair: save it before anything else
	replaces    Token     // while unsaved: the stored pair tok replaces (compare-and-set)
	lastRefresh time.Time // when this source last obtained a new pair
	notBefore   time.Time // no proactive refresh before this, after one failed
	inflight    *refreshCall
	pending     Token  // the new pair while OnTokenRefresh looks at it
	dead        error  // a refusal that no retry can fix (invalid_grant, invalid_client)
	deadRefresh string // the refresh token that was refused
}

// op is what a refreshCall does.
type op int

const (
	opLoad      op = iota // read the pair from the store
	opSave                // save a pair that an earlier Save failed to store
	opProactive           // refresh a pair that is about to expire
	opExpired             // refresh after the server answered expired_token
)

// refreshCall is one operation on the pair that every waiting caller shares.
type refreshCall struct {
	op    op
	stale string // the access token the caller found wanting
	done  chan struct{}
	err   error
}

func newTokenSource(cfg tokenSourceConfig) *tokenSource {
	if cfg.store != nil && cfg.key == (TokenKey{}) {
		cfg.key = TokenKey{MemberID: cfg.initial.MemberID}
	}
	cfg.secrets.Add(cfg.initial.AccessToken, cfg.initial.RefreshToken)
	return &tokenSource{cfg: cfg, tok: cfg.initial, loaded: cfg.store == nil}
}

func (o *tokenSource) endpoint(method string) string { return o.cfg.restBase + method }

// callbackKey marks the context handed to OnTokenRefresh: a call made from inside the
// callback uses the new pair at once instead of waiting for the refresh that runs it.
type callbackKey struct{}

// accessToken returns the token to send. Before it, the pair is loaded from the store,
// a pair the store has not taken yet is saved, and a pair about to expire is refreshed:
// no call leaves with a token whose successor OnTokenRefresh has not seen.
func (o *tokenSource) accessToken(ctx context.Context) (string, error) {
	if ctx.Value(callbackKey{}) == o {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.pending.AccessToken, nil
	}
	for range 4 {
		o.mu.Lock()
		call := o.inflight
		if call == nil {
			next, needed := o.nextOpLocked()
			if !needed {
				tok := o.tok.AccessToken
				o.mu.Unlock()
				return tok, nil
			}
			call = o.startLocked(next, o.tok.AccessToken)
		}
		o.mu.Unlock()
		if err := o.wait(ctx, call); err != nil {
			if call.op == opProactive {
				if tok, ok := o.stillValid(); ok {
					return tok, nil // refresh again later; the pair works until Expiry
				}
			}
			return "", err
		}
	}
	return "", errors.New("bitrix24: the token pair keeps changing; giving up")
}

// nextOpLocked says what must happen before a call may use the pair.
func (o *tokenSource) nextOpLocked() (op, bool) {
	switch {
	case !o.loaded:
		return opLoad, true
	case o.unsaved:
		return opSave, true
	case o.expiringLocked():
		return opProactive, true
	}
	return 0, false
}

// expiringLocked: the expiry is known and near, a refresh can be made, and we neither
// just refreshed (a server that hands out very short tokens must not make every call
// refresh) nor just failed to.
func (o *tokenSource) expiringLocked() bool {
	if o.tok.Expiry.IsZero() || (o.tok.RefreshToken == "" && o.cfg.store == nil) {
		return false
	}
	now := time.Now()
	return !now.Add(expiryMargin).Before(o.tok.Expiry) && now.Sub(o.lastRefresh) > expiryMargin && !now.Before(o.notBefore)
}

func (o *tokenSource) stillValid() (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tok.AccessToken, o.tok.AccessToken != "" && time.Now().Before(o.tok.Expiry)
}

// refreshExpired runs after the server answered expired_token for stale.
func (o *tokenSource) refreshExpired(ctx context.Context, stale string) error {
	if ctx.Value(callbackKey{}) == o {
		return fmt.Errorf("bitrix24: a call made from OnTokenRefresh got expired_token for the new pair: %w", ErrExpiredToken)
	}
	for range 4 {
		o.mu.Lock()
		if o.inflight == nil && o.tok.AccessToken != stale {
			o.mu.Unlock() // another caller already refreshed: replay with the new token
			return nil
		}
		call := o.inflight
		if call == nil {
			call = o.startLocked(opExpired, stale)
		}
		o.mu.Unlock()
		if err := o.wait(ctx, call); err != nil && call.op == opExpired {
			return err
		}
	}
	return errors.New("bitrix24: the token pair keeps changing; giving up")
}

// startLocked starts an operation. It runs detached from the caller's cancellation (its
// result is shared) and bounded by its own deadline.
func (o *tokenSource) startLocked(kind op, stale string) *refreshCall {
	call := &refreshCall{op: kind, stale: stale, done: make(chan struct{})}
	o.inflight = call
	go o.run(call)
	return call
}

// wait waits for call, and tells the observer how long that took.
func (o *tokenSource) wait(ctx context.Context, call *refreshCall) error {
	obs := o.cfg.observer
	if obs == nil || obs.TokenWait == nil {
		return waitRefresh(ctx, call)
	}
	start := time.Now()
	err := waitRefresh(ctx, call)
	notify(obs.TokenWait, ctx, WaitInfo{Reason: call.op.String(), Duration: time.Since(start), Err: err})
	return err
}

// String names the operation for the observer.
func (k op) String() string {
	switch k {
	case opLoad:
		return "load"
	case opSave:
		return "save"
	case opProactive:
		return "refresh"
	}
	return "expired_token"
}

func waitRefresh(ctx context.Context, call *refreshCall) error {
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return fmt.Errorf("bitrix24: waiting for the token refresh: %w", ctx.Err())
	}
}

func (o *tokenSource) run(call *refreshCall) {
	ctx, cancel := context.WithTimeout(context.Background(), o.cfg.timeout)
	defer cancel()
	err := o.perform(ctx, call)
	o.mu.Lock()
	o.inflight = nil
	if err != nil && call.op == opProactive {
		o.notBefore = time.Now().Add(proactiveRetryDelay)
	}
	o.mu.Unlock()
	call.err = cleanError(o.cfg.secrets, err)
	close(call.done)
}

// perform runs one operation; a panic in the store or the callback becomes its error.
func (o *tokenSource) perform(ctx context.Context, call *refreshCall) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bitrix24: token refresh: panic: %v", r)
		}
	}()
	switch call.op {
	case opLoad:
		return o.load(ctx)
	case opSave:
		o.mu.Lock()
		tok, read := o.tok, o.replaces
		o.mu.Unlock()
		use, err := o.save(ctx, read, tok)
		if err != nil {
			return fmt.Errorf("bitrix24: saving the token pair under %v: %w", o.cfg.key, err)
		}
		if use != tok {
			o.adopt(use) // a newer pair was saved meanwhile: it wins
			return nil
		}
		o.mu.Lock()
		o.unsaved = o.tok.AccessToken != tok.AccessToken
		o.mu.Unlock()
		return nil
	}
	return o.refresh(ctx, call)
}

// load reads the pair from the store; a store without one is seeded with the pair of
// the configuration, if it has one.
func (o *tokenSource) load(ctx context.Context) error {
	stored, err := o.cfg.store.Load(ctx, o.cfg.key)
	switch {
	case err == nil && stored.AccessToken != "":
		o.adopt(stored)
		return nil
	case err != nil && !errors.Is(err, ErrTokenNotFound):
		return fmt.Errorf("bitrix24: loading the token pair under %v: %w", o.cfg.key, err)
	case o.cfg.initial.AccessToken == "":
		return fmt.Errorf("bitrix24: no token pair stored under %v, and OAuthConfig.Token is empty: %w", o.cfg.key, ErrTokenNotFound)
	}
	if err := o.cfg.store.Save(ctx, o.cfg.key, o.cfg.initial); err != nil {
		return fmt.Errorf("bitrix24: saving the token pair under %v: %w", o.cfg.key, err)
	}
	o.adopt(o.cfg.initial)
	return nil
}

// adopt makes t the current pair without a refresh: it came from the store.
func (o *tokenSource) adopt(t Token) {
	o.cfg.secrets.Add(t.AccessToken, t.RefreshToken)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tok, o.loaded, o.unsaved = t, true, false
}

// refresh obtains a new pair, under the store's lock when it has one. With a store, the
// pair is re-read first: another client or process may have refreshed it already, and a
// second refresh would spend a token that is no longer the current one. A lease lost
// before the refresh token is spent means locking and re-reading again.
func (o *tokenSource) refresh(ctx context.Context, call *refreshCall) error {
	for attempt := 0; ; attempt++ {
		l, err := o.lock(ctx)
		if err != nil {
			return err
		}
		again, err := o.refreshLocked(ctx, call, l)
		l.unlock()
		if !again || attempt >= 2 {
			return err
		}
	}
}

// refreshLocked is one try of refresh, holding l; again: the lease was lost before the
// refresh token was spent, so nothing happened and the caller may lock again.
func (o *tokenSource) refreshLocked(ctx context.Context, call *refreshCall, l lease) (again bool, err error) {
	o.mu.Lock()
	current := o.tok
	o.mu.Unlock()
	var read Token // the stored pair the new one replaces (zero: none stored)
	if o.cfg.store != nil {
		stored, err := o.cfg.store.Load(ctx, o.cfg.key)
		switch {
		case err == nil && stored.AccessToken != "" && stored.AccessToken != call.stale &&
			!(call.op == opProactive && nearExpiry(stored)):
			o.adopt(stored) // someone else refreshed
			return false, nil
		case err == nil && stored.RefreshToken != "":
			current, read = stored, stored
		case err == nil:
			read = stored
		case !errors.Is(err, ErrTokenNotFound):
			return false, fmt.Errorf("bitrix24: loading the token pair under %v: %w", o.cfg.key, err)
		}
	}
	if current.RefreshToken == "" {
		return false, fmt.Errorf("bitrix24: the access token expired and the pair has no refresh token: %w", ErrExpiredToken)
	}
	o.mu.Lock()
	dead := o.dead
	if dead != nil && o.deadRefresh != current.RefreshToken {
		dead = nil // a new pair arrived (through the store): worth a try
	}
	o.mu.Unlock()
	if dead != nil {
		return false, dead
	}
	if l.lost(ctx) {
		// Another holder may be refreshing this very pair: spend nothing.
		return true, fmt.Errorf("bitrix24: refreshing the token pair under %v: %w", o.cfg.key, ErrLeaseLost)
	}
	start := time.Now()
	tok, err := o.cfg.endpoint.refresh(ctx, current.RefreshToken)
	if obs := o.cfg.observer; obs != nil {
		reason := "proactive"
		if call.op == opExpired {
			reason = "expired_token"
		}
		notify(obs.TokenRefresh, ctx, RefreshInfo{Reason: reason, Duration: time.Since(start), Err: cleanError(o.cfg.secrets, err)})
	}
	if err != nil && tok.RefreshToken == "" {
		return false, o.refused(ctx, current, err)
	}
	fillFrom(&tok, current)
	foreign := o.keepPortal(&tok, current)
	// The refresh token is spent: the new pair is saved whether or not the lease is still
	// held, compare-and-set against read, so that a newer pair saved meanwhile wins. A pair
	// with a bad expiry is kept too, and the error reported.
	return false, errors.Join(o.publish(ctx, read, tok), err, foreign)
}
