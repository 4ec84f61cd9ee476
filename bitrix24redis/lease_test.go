package bitrix24redis_test

// A lock lost while held (a failover, a partition, a paused process) must not cost a
// second refresh nor a newer pair: the holder checks its lease before it spends the
// refresh token, saves compare-and-set, and a client refused with invalid_grant waits
// for the pair of the client that won. Against a real redis-server (see startRedis).

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24redis"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	_ bitrix24.TokenLeaser  = (*bitrix24redis.TokenStore)(nil)
	_ bitrix24.TokenSwapper = (*bitrix24redis.TokenStore)(nil)
)

// pausingStore is a Redis store whose next Load (after reading) or save (before writing)
// stops until resumed, as a process paused by the OS or a GC would.
type pausingStore struct {
	*bitrix24redis.TokenStore
	mu              sync.Mutex
	onLoad, onSave  bool
	paused, resumed chan struct{}
}

func newPausingStore(s *bitrix24redis.TokenStore) *pausingStore {
	return &pausingStore{TokenStore: s, paused: make(chan struct{}), resumed: make(chan struct{})}
}

func (p *pausingStore) take(load bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if load && p.onLoad {
		p.onLoad = false
		return true
	}
	if !load && p.onSave {
		p.onSave = false
		return true
	}
	return false
}

func (p *pausingStore) pause() {
	close(p.paused)
	<-p.resumed
}

func (p *pausingStore) Load(ctx context.Context, key bitrix24.TokenKey) (bitrix24.Token, error) {
	t, err := p.TokenStore.Load(ctx, key)
	if p.take(true) {
		p.pause()
	}
	return t, err
}

func (p *pausingStore) Save(ctx context.Context, key bitrix24.TokenKey, t bitrix24.Token) error {
	if p.take(false) {
		p.pause()
	}
	return p.TokenStore.Save(ctx, key, t)
}

func (p *pausingStore) SwapToken(ctx context.Context, key bitrix24.TokenKey, old, t bitrix24.Token) error {
	if p.take(false) {
		p.pause()
	}
	return p.TokenStore.SwapToken(ctx, key, old, t)
}

// leaseFixture is a portal, a Redis holding the portal's pair, and clients on it.
type leaseFixture struct {
	t   *testing.T
	srv *bitrix24test.Server
	r   *testRedis
	key bitrix24.TokenKey
	cfg bitrix24.OAuthConfig
}

func newLeaseFixture(t *testing.T) *leaseFixture {
	r := startRedis(t)
	srv := bitrix24test.New(t, bitrix24test.WithRateLimit(0, 0))
	f := &leaseFixture{t: t, srv: srv, r: r, key: bitrix24.TokenKey{MemberID: srv.MemberID()}, cfg: srv.OAuthConfig()}
	require.NoError(t, f.store().Save(context.Background(), f.key, f.cfg.Token))
	return f
}

func (f *leaseFixture) store() *bitrix24redis.TokenStore {
	return bitrix24redis.NewTokenStore(f.r.client(f.t), "b24:").WithLockLease(300 * time.Millisecond)
}

// client makes a client on store and has it load the pair with one call.
func (f *leaseFixture) client(store bitrix24.TokenStore) *bitrix24.Client {
	c, err := bitrix24.NewOAuthClient(bitrix24.OAuthConfig{
		PortalURL: f.cfg.PortalURL, ClientID: f.cfg.ClientID, ClientSecret: f.cfg.ClientSecret, TokenURL: f.cfg.TokenURL,
		Store: store, StoreKey: f.key,
	}, bitrix24.WithHTTPClient(f.srv.Client()), bitrix24.WithRateLimit(0, 0))
	require.NoError(f.t, err)
	require.NoError(f.t, c.Call(f.ctx(), "server.time", nil, nil))
	return c
}

func (f *leaseFixture) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	f.t.Cleanup(cancel)
	return ctx
}

// loseLease frees the lock behind its holder's back, as an expired lease would.
func (f *leaseFixture) loseLease() {
	require.NoError(f.t, f.r.client(f.t).Del(context.Background(), f.store().LockKeyName(f.key)).Err())
}

func (f *leaseFixture) tokenRequests() int { return f.srv.Requests("oauth/token") }

// callAsync calls server.time on c in the background.
func callAsync(ctx context.Context, c *bitrix24.Client) <-chan error {
	done := make(chan error, 1)
	go func() { done <- c.Call(ctx, "server.time", nil, nil) }()
	return done
}

// A holds the lock and has read the pair when it is paused; its lease runs out, B takes
// the lock and refreshes. A, resumed, must see the lease is gone and adopt B's pair, not
// spend the old refresh token a second time.
func TestLeaseLostBeforeRefreshSpendsNothing(t *testing.T) {
	f := newLeaseFixture(t)
	pa := newPausingStore(f.store())
	a := f.client(pa)
	b := f.client(f.store())
	f.srv.ExpireAccessToken()
	before := f.tokenRequests()

	pa.mu.Lock()
	pa.onLoad = true
	pa.mu.Unlock()
	doneA := callAsync(f.ctx(), a)
	<-pa.paused // A holds the lock and has read the old pair
	f.loseLease()
	require.NoError(t, b.Call(f.ctx(), "server.time", nil, nil), "B refreshes")
	close(pa.resumed)
	require.NoError(t, <-doneA)

	assert.Equal(t, 1, f.tokenRequests()-before, "token endpoint requests: A must not spend the refresh token B spent")
	assert.Equal(t, 1, f.srv.Refreshes())
}

// A refreshed and is paused before it saves; meanwhile a newer pair is stored (say a
// reinstall). A must not overwrite it.
func TestLeaseLostSaveKeepsNewerPair(t *testing.T) {
	f := newLeaseFixture(t)
	pa := newPausingStore(f.store())
	a := f.client(pa)
	f.srv.ExpireAccessToken()

	pa.mu.Lock()
	pa.onSave = true
	pa.mu.Unlock()
	doneA := callAsync(f.ctx(), a)
	<-pa.paused // A has spent the refresh token and not saved yet
	f.loseLease()
	newer := bitrix24.Token{AccessToken: "newer-access-0001", RefreshToken: "newer-refresh-0001", MemberID: f.key.MemberID}
	require.NoError(t, f.store().Save(context.Background(), f.key, newer))
	close(pa.resumed)
	<-doneA // the newer pair is not one the portal knows: A's call may fail

	stored, err := f.store().Load(context.Background(), f.key)
	require.NoError(t, err)
	assert.Equal(t, newer.RefreshToken, stored.RefreshToken, "the newer pair was overwritten")
}

// A refreshed and is paused before it saves, its lease lost; B takes the lock, reads the
// old pair and is refused with invalid_grant. B must wait for A's pair, not fail.
func TestInvalidGrantWaitsWithLockedStore(t *testing.T) {
	f := newLeaseFixture(t)
	pa := newPausingStore(f.store())
	a := f.client(pa)
	b := f.client(f.store())
	f.srv.ExpireAccessToken()
	before := f.tokenRequests()

	pa.mu.Lock()
	pa.onSave = true
	pa.mu.Unlock()
	doneA := callAsync(f.ctx(), a)
	<-pa.paused
	f.loseLease()
	doneB := callAsync(f.ctx(), b)
	// Resume A once B has been refused (its token request is the second one).
	require.Eventually(t, func() bool { return f.tokenRequests()-before >= 2 }, 20*time.Second, 5*time.Millisecond)
	close(pa.resumed)
	require.NoError(t, <-doneA)
	require.NoError(t, <-doneB, "B was refused although A's pair reached the store")
	assert.Equal(t, 1, f.srv.Refreshes())
}

// SwapToken stores only over the pair it was given.
func TestSwapToken(t *testing.T) {
	r := startRedis(t)
	s := bitrix24redis.NewTokenStore(r.client(t), "b24:")
	ctx := context.Background()
	key := bitrix24.TokenKey{MemberID: memberID}
	p1 := bitrix24.Token{AccessToken: "a1", RefreshToken: "r1"}
	p2 := bitrix24.Token{AccessToken: "a2", RefreshToken: "r2"}
	require.ErrorIs(t, s.SwapToken(ctx, key, p1, p2), bitrix24.ErrTokenChanged, "nothing stored is not p1")
	require.NoError(t, s.SwapToken(ctx, key, bitrix24.Token{}, p1))
	require.ErrorIs(t, s.SwapToken(ctx, key, bitrix24.Token{}, p2), bitrix24.ErrTokenChanged)
	require.NoError(t, s.SwapToken(ctx, key, p1, p2))
	got, err := s.Load(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, p2, got)
}

// held reports a lease lost to another holder, and stays lost.
func TestLeaseHeld(t *testing.T) {
	r := startRedis(t)
	rdb := r.client(t)
	s := bitrix24redis.NewTokenStore(rdb, "b24:")
	ctx := context.Background()
	key := bitrix24.TokenKey{MemberID: memberID}
	held, unlock, err := s.LeaseToken(ctx, key)
	require.NoError(t, err)
	defer unlock()
	require.NoError(t, held(ctx))
	require.NoError(t, rdb.Set(ctx, s.LockKeyName(key), "someone-else", 0).Err())
	require.ErrorIs(t, held(ctx), bitrix24.ErrLeaseLost)
	require.NoError(t, rdb.Del(ctx, s.LockKeyName(key)).Err())
	require.ErrorIs(t, held(ctx), bitrix24.ErrLeaseLost)
}

// A lease whose renewals fail for a whole lease (Redis unreachable: a partition, a
// failover) is lost, whatever Redis will say once it is back.
func TestLeaseLostWhenRenewalsFail(t *testing.T) {
	r := startRedis(t)
	s := bitrix24redis.NewTokenStore(r.client(t), "b24:").WithLockLease(300 * time.Millisecond)
	ctx := context.Background()
	held, unlock, err := s.LeaseToken(ctx, bitrix24.TokenKey{MemberID: memberID})
	require.NoError(t, err)
	defer unlock()
	require.NoError(t, held(ctx))
	r.Kill()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return errors.Is(held(ctx), bitrix24.ErrLeaseLost)
	}, 10*time.Second, 20*time.Millisecond)
}
