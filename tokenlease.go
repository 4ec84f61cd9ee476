package bitrix24

import (
	"context"
	"errors"
	"fmt"
)

// What a store shared by several processes may add to TokenLocker, so that a lock lost
// to a failover, a partition or a paused process does not cost a second refresh.

// ErrLeaseLost is returned (wrapped) by the held function of [TokenLeaser.LeaseToken]
// once the lock may belong to another holder: its renewal was refused, or failed for a
// whole lease, or the store shows another holder.
var ErrLeaseLost = errors.New("bitrix24: the token lock's lease was lost")

// ErrTokenChanged is returned (wrapped) by [TokenSwapper.SwapToken] when the stored
// pair is no longer the one the caller read: nothing was saved.
var ErrTokenChanged = errors.New("bitrix24: the stored token pair changed")

// TokenLeaser is implemented by lockers whose lock is a lease that can be lost while
// held (package bitrix24redis). The client asks held before it spends the refresh token
// and before it saves; when held fails it locks again and re-reads the store instead of
// refreshing a pair another holder may be refreshing.
type TokenLeaser interface {
	// LeaseToken is LockToken that also returns held, which reports nil while the
	// lease is still this holder's, or an error matching ErrLeaseLost.
	LeaseToken(ctx context.Context, key TokenKey) (held func(context.Context) error, unlock func(), err error)
}

// TokenSwapper is implemented by stores that can save compare-and-set. The client saves
// a refreshed pair with SwapToken against the pair it read under the lock, so a holder
// whose lease ran out never overwrites a newer pair saved meanwhile.
type TokenSwapper interface {
	// SwapToken stores t under key only if the stored pair is still old (the same
	// refresh and access tokens; a zero old means nothing stored). Otherwise it saves
	// nothing and returns an error matching ErrTokenChanged.
	SwapToken(ctx context.Context, key TokenKey, old, t Token) error
}

// lease is the lock the token source holds while it refreshes: held is nil for
// lockers that do not report a lost lease.
type lease struct {
	held   func(context.Context) error
	unlock func()
}

// lock takes the store's lock, if it has one.
func (o *tokenSource) lock(ctx context.Context) (lease, error) {
	if leaser, ok := o.cfg.store.(TokenLeaser); ok {
		held, unlock, err := leaser.LeaseToken(ctx, o.cfg.key)
		if err != nil {
			return lease{}, fmt.Errorf("bitrix24: locking the token pair under %v: %w", o.cfg.key, err)
		}
		return lease{held: held, unlock: unlock}, nil
	}
	if locker, ok := o.cfg.store.(TokenLocker); ok {
		unlock, err := locker.LockToken(ctx, o.cfg.key)
		if err != nil {
			return lease{}, fmt.Errorf("bitrix24: locking the token pair under %v: %w", o.cfg.key, err)
		}
		return lease{unlock: unlock}, nil
	}
	return lease{unlock: func() {}}, nil
}

// lost reports whether the lease is known to be lost. An error other than
// ErrLeaseLost (the store cannot be asked) does not count: the renewals decide.
func (l lease) lost(ctx context.Context) bool {
	return l.held != nil && errors.Is(l.held(ctx), ErrLeaseLost)
}

// save stores a refreshed pair: compare-and-set against read when the store can, so
// that a newer pair saved meanwhile wins. It returns the pair to use: tok, or the newer
// stored pair when the swap found one.
func (o *tokenSource) save(ctx context.Context, read, tok Token) (Token, error) {
	swapper, ok := o.cfg.store.(TokenSwapper)
	if !ok {
		return tok, o.cfg.store.Save(ctx, o.cfg.key, tok)
	}
	err := swapper.SwapToken(ctx, o.cfg.key, read, tok)
	if !errors.Is(err, ErrTokenChanged) {
		return tok, err
	}
	stored, lerr := o.cfg.store.Load(ctx, o.cfg.key)
	if lerr != nil || stored.AccessToken == "" {
		return tok, errors.Join(err, lerr)
	}
	return stored, nil
}
