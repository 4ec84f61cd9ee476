package bitrix24

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrTokenNotFound is returned (wrapped) by [TokenStore.Load] when no pair is stored under
// the key.
var ErrTokenNotFound = errors.New("bitrix24: token not found")

// TokenKey names a stored token pair: one per portal installation and, for pairs that act
// as a particular user, one per user.
type TokenKey struct {
	MemberID string // the portal installation (Token.MemberID)
	UserID   int    // 0: the installation's own pair; otherwise that user's pair
}

// String prints the key; it holds no secret.
func (k TokenKey) String() string { return fmt.Sprintf("%s/%d", k.MemberID, k.UserID) }

// checkKey refuses a key without a member id: two portals keyed that way would share one
// slot of a store.
func checkKey(key TokenKey) error {
	if key.MemberID == "" {
		return invalid("TokenKey.MemberID", "must not be empty")
	}
	return nil
}

// TokenStore keeps token pairs where every client that shares them can read them: a map
// in memory for clients of one process ([NewMemoryTokenStore]), a file for processes on
// one machine ([NewFileTokenStore]), Redis for processes on many machines (package
// bitrix24redis). Implementations must be safe for concurrent use.
type TokenStore interface {
	// Load returns the stored pair, or an error matching ErrTokenNotFound.
	Load(ctx context.Context, key TokenKey) (Token, error)
	// Save stores t under key, replacing what was there.
	Save(ctx context.Context, key TokenKey, t Token) error
}

// TokenLocker is implemented by stores that several clients or processes share: the
// client holds the lock while it refreshes, so that one refresh happens per expiry,
// whoever notices it. LockToken waits until it holds the lock or ctx ends; unlock
// releases it and may be called once.
type TokenLocker interface {
	LockToken(ctx context.Context, key TokenKey) (unlock func(), err error)
}

// MemoryTokenStore is a [TokenStore] and [TokenLocker] for the clients of one process.
// The zero value is not usable; create one with [NewMemoryTokenStore].
type MemoryTokenStore struct {
	mu     sync.Mutex
	tokens map[TokenKey]Token
	locks  map[TokenKey]chan struct{} // a held lock is a channel with one token in it
}

// NewMemoryTokenStore returns an empty in-memory store.
func NewMemoryTokenStore() *MemoryTokenStore {
	return &MemoryTokenStore{tokens: map[TokenKey]Token{}, locks: map[TokenKey]chan struct{}{}}
}

// Load returns the pair stored under key, or an error matching [ErrTokenNotFound]. A key
// without a member id is refused with [ErrValidation], by every method of the store.
func (s *MemoryTokenStore) Load(ctx context.Context, key TokenKey) (Token, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, err
	}
	if err := checkKey(key); err != nil {
		return Token{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[key]
	if !ok {
		return Token{}, fmt.Errorf("bitrix24: no token pair stored under %v: %w", key, ErrTokenNotFound)
	}
	return t, nil
}

// Save stores t under key.
func (s *MemoryTokenStore) Save(ctx context.Context, key TokenKey, t Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[key] = t
	return nil
}

// Delete forgets the pair stored under key (an uninstalled portal). Deleting a key that
// holds nothing is not an error.
func (s *MemoryTokenStore) Delete(ctx context.Context, key TokenKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, key)
	return nil
}

// LockToken waits until it holds key's lock or ctx ends.
func (s *MemoryTokenStore) LockToken(ctx context.Context, key TokenKey) (func(), error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	ch, ok := s.locks[key]
	if !ok {
		ch = make(chan struct{}, 1)
		s.locks[key] = ch
	}
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("bitrix24: waiting for the lock of %v: %w", key, ctx.Err())
	}
	var once sync.Once
	return func() { once.Do(func() { <-ch }) }, nil
}
