package bitrix24redis_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24redis"
)

// Holders on several clients (as in several processes) never overlap, and every waiter
// gets the lock in the end.
func TestLockMutualExclusion(t *testing.T) {
	r := startRedis(t)
	key := bitrix24.TokenKey{MemberID: memberID}
	var stores []*bitrix24redis.TokenStore
	for range 4 {
		stores = append(stores, bitrix24redis.NewTokenStore(r.client(t), "b24:"))
	}
	var inside, overlaps, held atomic.Int64
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			unlock, err := stores[i%len(stores)].LockToken(ctx, key)
			if err != nil {
				t.Errorf("LockToken: %v", err)
				return
			}
			if inside.Add(1) != 1 {
				overlaps.Add(1)
			}
			time.Sleep(time.Millisecond) // widen the window an overlap would need
			inside.Add(-1)
			held.Add(1)
			unlock()
			unlock() // a second call does nothing
		})
	}
	wg.Wait()
	if overlaps.Load() != 0 || held.Load() != 24 {
		t.Fatalf("%d overlaps, %d of 24 held the lock", overlaps.Load(), held.Load())
	}
}

// A waiter whose ctx ends returns ctx's error and holds nothing.
func TestLockWaitEndsWithContext(t *testing.T) {
	r := startRedis(t)
	s := bitrix24redis.NewTokenStore(r.client(t), "b24:")
	key := bitrix24.TokenKey{MemberID: memberID}
	unlock, err := s.LockToken(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if u, err := s.LockToken(ctx, key); !errors.Is(err, context.DeadlineExceeded) {
		if u != nil {
			u()
		}
		t.Fatalf("LockToken on a held lock = %v, want DeadlineExceeded", err)
	}
}

// A holder that dies (its client closed: no renewal, no unlock) frees the lock when its
// lease ends, and its late unlock cannot free the next holder's lock.
func TestLockExpiresWhenHolderDies(t *testing.T) {
	r := startRedis(t)
	key := bitrix24.TokenKey{MemberID: memberID, UserID: 2}
	deadClient := r.client(t)
	dead := bitrix24redis.NewTokenStore(deadClient, "b24:").WithLockLease(300 * time.Millisecond)
	deadUnlock, err := dead.LockToken(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	_ = deadClient.Close() // the process is gone: nothing renews the lease

	rdb := r.client(t)
	live := bitrix24redis.NewTokenStore(rdb, "b24:")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	unlock, err := live.LockToken(ctx, key)
	if err != nil {
		t.Fatalf("the lock of a dead holder was not freed: %v", err)
	}
	defer unlock()
	deadUnlock() // its client is closed: it cannot reach Redis, and must not block
	if ok, err := rdb.Exists(ctx, live.LockKeyName(key)).Result(); err != nil || ok != 1 {
		t.Fatalf("the live holder's lock is gone (%d, %v)", ok, err)
	}
}

// unlock deletes the lock only while it holds the holder's value.
func TestLockReleasedOnlyByHolder(t *testing.T) {
	r := startRedis(t)
	rdb := r.client(t)
	s := bitrix24redis.NewTokenStore(rdb, "b24:")
	key := bitrix24.TokenKey{MemberID: memberID}
	ctx := context.Background()
	unlock, err := s.LockToken(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	// The lease ran out and another holder took the lock.
	if err := rdb.Set(ctx, s.LockKeyName(key), "other-holder", 0).Err(); err != nil {
		t.Fatal(err)
	}
	unlock()
	if v, err := rdb.Get(ctx, s.LockKeyName(key)).Result(); err != nil || v != "other-holder" {
		t.Fatalf("after a stale unlock the lock holds %q (%v), want the other holder's value", v, err)
	}
}

// While held, the lease is renewed: the lock outlives several leases.
func TestLockRenewedWhileHeld(t *testing.T) {
	r := startRedis(t)
	rdb := r.client(t)
	const lease = 600 * time.Millisecond
	s := bitrix24redis.NewTokenStore(rdb, "b24:").WithLockLease(lease)
	key := bitrix24.TokenKey{MemberID: memberID}
	ctx := context.Background()
	unlock, err := s.LockToken(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	value, err := rdb.Get(ctx, s.LockKeyName(key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * lease)
	if v, err := rdb.Get(ctx, s.LockKeyName(key)).Result(); err != nil || v != value {
		t.Fatalf("after 3 leases the lock holds %q (%v): not renewed", v, err)
	}
	ttl, err := rdb.PTTL(ctx, s.LockKeyName(key)).Result()
	if err != nil || ttl <= 0 || ttl > lease {
		t.Fatalf("lock TTL %v (%v), want a lease of at most %v", ttl, err, lease)
	}
	unlock()
	if n, err := rdb.Exists(ctx, s.LockKeyName(key)).Result(); err != nil || n != 0 {
		t.Fatalf("the lock is still there after unlock (%d, %v)", n, err)
	}
}
