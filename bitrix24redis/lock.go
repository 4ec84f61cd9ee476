package bitrix24redis

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/redis/go-redis/v9"
)

// unlockScript deletes the lock only if it still holds this holder's value: a holder whose
// lease ran out must not free the lock that another holder took since.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// renewScript extends the lease (ARGV[2] ms) only if the lock still holds ARGV[1].
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// Polling bounds while another holder has the lock: short first (a refresh takes a
// round trip to the token endpoint), never slower than lockPollMax.
const (
	lockPollMin = 5 * time.Millisecond
	lockPollMax = 100 * time.Millisecond
	// unlockTimeout bounds the release; if Redis cannot be reached the lease frees the
	// lock anyway.
	unlockTimeout = 2 * time.Second
)

// LockToken waits until it holds key's lock or ctx ends, and returns the function that
// releases it (safe to call more than once).
//
// The lock is SET NX PX with a random value under [TokenStore.LockKeyName]: a lease that a
// goroutine renews every third of the lease while the lock is held, so a lock whose holder
// died frees itself within one lease ([DefaultLockLease] unless [TokenStore.WithLockLease]).
// unlock deletes the lock only if it still holds this holder's value (compare-and-delete
// in one Lua script). When Redis cannot be reached LockToken returns an error at once.
func (s *TokenStore) LockToken(ctx context.Context, key bitrix24.TokenKey) (func(), error) {
	_, unlock, err := s.LeaseToken(ctx, key)
	return unlock, err
}

// LeaseToken is [TokenStore.LockToken] that also returns held ([bitrix24.TokenLeaser]):
// nil while the lease is still this holder's; an error matching [bitrix24.ErrLeaseLost]
// once a renewal was refused (the lease ran out and the lock may be another's), renewals
// failed for a whole lease (Redis unreachable), or the lock holds another value. held
// asks Redis, so a holder learns at once that a failover or a pause cost it the lock.
func (s *TokenStore) LeaseToken(ctx context.Context, key bitrix24.TokenKey) (held func(context.Context) error, unlock func(), err error) {
	if err := s.check(ctx, key); err != nil {
		return nil, nil, err
	}
	name := s.LockKeyName(key)
	value := rand.Text()
	poll := lockPollMin
	var sent time.Time
	for {
		sent = time.Now() // the lease runs from no earlier than this
		_, err := bounded(ctx, func(ctx context.Context) (any, error) {
			return s.rdb.Do(ctx, "SET", name, value, "NX", "PX", s.lease.Milliseconds()).Result()
		}, func(_ any, err error) {
			if err == nil { // took the lock after the caller gave up: free it
				s.unlock(name, value)
			}
		})
		if err == nil {
			break
		}
		if !errors.Is(err, redis.Nil) {
			return nil, nil, s.fail(ctx, "locking", key, err)
		}
		// Held by someone else: wait a little, with jitter so that waiters in several
		// processes do not poll in step.
		d := poll/2 + time.Duration(mrand.Int64N(int64(poll)))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("bitrix24redis: waiting for the lock of %v: %w", key, ctx.Err())
		case <-t.C:
		}
		poll = min(2*poll, lockPollMax)
	}
	l := &heldLease{s: s, key: key, name: name, value: value, renewed: sent}
	return l.held, s.hold(l), nil
}

// heldLease is one held lock: lost is set once the holder knows it may be another's.
type heldLease struct {
	s           *TokenStore
	key         bitrix24.TokenKey
	name, value string

	mu      sync.Mutex
	renewed time.Time // the start of the last renewal Redis confirmed
	lost    bool
}

// held reports whether the lease is still this holder's; see LeaseToken.
func (l *heldLease) held(ctx context.Context) error {
	l.mu.Lock()
	lost := l.lost || time.Since(l.renewed) >= l.s.lease
	l.lost = lost
	l.mu.Unlock()
	if lost {
		return fmt.Errorf("bitrix24redis: the lock of %v: %w", l.key, bitrix24.ErrLeaseLost)
	}
	v, err := bounded(ctx, func(ctx context.Context) (string, error) {
		return l.s.rdb.Get(ctx, l.name).Result()
	}, nil)
	if err != nil && !errors.Is(err, redis.Nil) {
		return l.s.fail(ctx, "checking the lock of", l.key, err)
	}
	if v != l.value {
		l.markLost()
		return fmt.Errorf("bitrix24redis: the lock of %v is no longer held: %w", l.key, bitrix24.ErrLeaseLost)
	}
	return nil
}

func (l *heldLease) markLost() {
	l.mu.Lock()
	l.lost = true
	l.mu.Unlock()
}

// hold renews the lease of a held lock until the returned unlock is called.
func (s *TokenStore) hold(l *heldLease) func() {
	every := s.lease / 3
	stopRenewing := everyTick(every, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), every)
		defer cancel()
		start := time.Now()
		n, err := bounded(ctx, func(ctx context.Context) (int64, error) {
			return renewScript.Run(ctx, s.rdb, []string{l.name}, l.value, s.lease.Milliseconds()).Int64()
		}, nil)
		switch {
		case err == nil && n != 0:
			l.mu.Lock()
			l.renewed = start
			l.mu.Unlock()
			return true
		case err == nil:
			// The lease ran out and someone else may hold the lock: stop renewing.
			l.markLost()
			return false
		}
		// On an error keep trying: Redis may be back before the lease runs out (held
		// reports the lease lost once a whole lease passed without a renewal).
		return true
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			stopRenewing()
			s.unlock(l.name, l.value)
		})
	}
}

// unlock deletes the lock if it still holds value.
func (s *TokenStore) unlock(name, value string) {
	ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
	defer cancel()
	_, _ = bounded(ctx, func(ctx context.Context) (any, error) {
		return unlockScript.Run(ctx, s.rdb, []string{name}, value).Result()
	}, nil)
}
