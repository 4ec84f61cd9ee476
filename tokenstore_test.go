package bitrix24_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// storeClient builds an OAuth client for srv's application that shares store.
func storeClient(t testing.TB, srv *bitrix24test.Server, store bitrix24.TokenStore, token bitrix24.Token) *bitrix24.Client {
	t.Helper()
	cfg := srv.OAuthConfig()
	cfg.Token = token
	cfg.Store = store
	cfg.StoreKey = bitrix24.TokenKey{MemberID: srv.MemberID()}
	c, err := bitrix24.NewOAuthClient(cfg, bitrix24.WithHTTPClient(srv.Client()),
		bitrix24.WithRetry(3, time.Millisecond, 5*time.Millisecond), bitrix24.WithRateLimit(0, 0))
	require.NoError(t, err)
	return c
}

// The scenario: 4 clients, one memory store, 100 goroutines, an expired pair:
// exactly one refresh and no invalid_grant.
func TestSharedMemoryStoreRefreshesOnce(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t, bitrix24test.WithRateLimit(0, 0))
	store := bitrix24.NewMemoryTokenStore()
	initial := srv.Token()
	clients := make([]*bitrix24.Client, 4)
	for i := range clients {
		clients[i] = storeClient(t, srv, store, initial)
	}
	srv.ExpireAccessToken()
	errs := hammer(100, 100, func(i int) error {
		return clients[i%4].Call(context.Background(), "server.time", nil, nil)
	})
	require.Empty(t, errs)
	assert.Equal(t, 1, srv.Refreshes())
	stored, err := store.Load(context.Background(), bitrix24.TokenKey{MemberID: srv.MemberID()})
	require.NoError(t, err)
	assert.Equal(t, srv.Token().RefreshToken, stored.RefreshToken, "the store holds the live pair")
}

// The report: client B holds a pair that A has since rotated. B recovers by
// re-reading the store, without a second refresh.
func TestStaleClientAdoptsTheStoredPair(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t, bitrix24test.WithRateLimit(0, 0))
	store := bitrix24.NewMemoryTokenStore()
	initial := srv.Token()
	a := storeClient(t, srv, store, initial)
	b := storeClient(t, srv, store, initial)
	ctx := context.Background()
	require.NoError(t, b.Call(ctx, "server.time", nil, nil)) // B now holds the pair in memory
	srv.ExpireAccessToken()
	require.NoError(t, a.Call(ctx, "server.time", nil, nil)) // A rotates it
	require.Equal(t, 1, srv.Refreshes())
	require.NoError(t, b.Call(ctx, "server.time", nil, nil)) // B: expired_token, re-read, replay
	assert.Equal(t, 1, srv.Refreshes(), "B adopted A's pair instead of refreshing")
	assert.Equal(t, a.Token().AccessToken, b.Token().AccessToken)
}

// Without a store, the same scenario fails — with a hint at the cause.
func TestRotatedElsewhereWithoutStoreSaysSo(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t, bitrix24test.WithRateLimit(0, 0))
	cfg := srv.OAuthConfig()
	opts := []bitrix24.Option{bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithRetry(0, 0, 0)}
	a, err := bitrix24.NewOAuthClient(cfg, opts...)
	require.NoError(t, err)
	b, err := bitrix24.NewOAuthClient(cfg, opts...)
	require.NoError(t, err)
	srv.ExpireAccessToken()
	require.NoError(t, a.Call(context.Background(), "server.time", nil, nil))
	err = b.Call(context.Background(), "server.time", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrInvalidGrant)
	assert.Contains(t, err.Error(), "another client or process")
}

// Token may be empty when the store holds the pair; with neither, the call says so.
func TestPairLoadedFromStore(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t, bitrix24test.WithRateLimit(0, 0))
	ctx := context.Background()
	store := bitrix24.NewMemoryTokenStore()
	empty := storeClient(t, srv, store, bitrix24.Token{})
	err := empty.Call(ctx, "server.time", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrTokenNotFound)
	require.NoError(t, store.Save(ctx, bitrix24.TokenKey{MemberID: srv.MemberID()}, srv.Token()))
	require.NoError(t, empty.Call(ctx, "server.time", nil, nil))
}

// failingStore wraps a store and fails Save while fail is set, quoting the token it was
// given, as a careless database error would.
type failingStore struct {
	bitrix24.TokenStore
	mu   sync.Mutex
	fail bool
}

func (s *failingStore) Save(ctx context.Context, key bitrix24.TokenKey, t bitrix24.Token) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return fmt.Errorf("duplicate key value violates unique constraint: (refresh)=(%s)", t.RefreshToken)
	}
	return s.TokenStore.Save(ctx, key, t)
}

func (s *failingStore) setFail(v bool) {
	s.mu.Lock()
	s.fail = v
	s.mu.Unlock()
}

// A failed Save reaches the caller without the token, keeps the new pair in memory (the
// old refresh token is spent) and is tried again on the next call.
func TestFailedSaveKeepsThePairAndRetries(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t, bitrix24test.WithRateLimit(0, 0))
	ctx := context.Background()
	mem := bitrix24.NewMemoryTokenStore()
	store := &failingStore{TokenStore: mem}
	c := storeClient(t, srv, store, srv.Token())
	require.NoError(t, c.Call(ctx, "server.time", nil, nil))
	store.setFail(true)
	srv.ExpireAccessToken()
	err := c.Call(ctx, "server.time", nil, nil)
	require.Error(t, err)
	live := srv.Token()
	assert.Equal(t, live.AccessToken, c.Token().AccessToken, "the new pair is kept")
	for e := error(err); e != nil; e = errors.Unwrap(e) {
		assert.NotContains(t, e.Error(), live.RefreshToken)
	}
	assert.NotContains(t, fmt.Sprintf("%v %+v", err, err), live.RefreshToken)

	store.setFail(false)
	require.NoError(t, c.Call(ctx, "server.time", nil, nil))
	stored, err := mem.Load(ctx, bitrix24.TokenKey{MemberID: srv.MemberID()})
	require.NoError(t, err)
	assert.Equal(t, live.RefreshToken, stored.RefreshToken, "saved on the next call")
	assert.Equal(t, 1, srv.Refreshes())
}

func TestFileTokenStoreRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := bitrix24.NewFileTokenStore(filepath.Join(dir, "tokens"))
	require.NoError(t, err)
	ctx := context.Background()
	key := bitrix24.TokenKey{MemberID: "../a b/c", UserID: 7}
	_, err = store.Load(ctx, key)
	require.ErrorIs(t, err, bitrix24.ErrTokenNotFound)

	tok := bitrix24.Token{AccessToken: "access-0123456789", RefreshToken: "refresh-0123456789",
		Expiry: time.Unix(1_900_000_000, 0), Scope: "user,placement", MemberID: "m", ClientEndpoint: "https://p/rest/",
		ServerEndpoint: "https://oauth/rest/", UserID: 7}
	require.NoError(t, store.Save(ctx, key, tok))
	got, err := store.Load(ctx, key)
	require.NoError(t, err)
	assert.True(t, tok.Expiry.Equal(got.Expiry))
	got.Expiry = tok.Expiry
	assert.Equal(t, tok, got)

	path := store.Path(key)
	assert.Equal(t, filepath.Join(dir, "tokens"), filepath.Dir(path), "the key cannot leave the directory")
	assert.NotContains(t, path, "access-0123456789")
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	zero := bitrix24.Token{AccessToken: "a-0123456789", RefreshToken: "r-0123456789"}
	require.NoError(t, store.Save(ctx, key, zero))
	got, err = store.Load(ctx, key)
	require.NoError(t, err)
	assert.True(t, got.Expiry.IsZero(), "a zero expiry stays zero")
	entries, err := os.ReadDir(filepath.Join(dir, "tokens"))
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".tmp-", "no temporary file is left behind")
	}

	require.NoError(t, store.Delete(ctx, key))
	_, err = store.Load(ctx, key)
	require.ErrorIs(t, err, bitrix24.ErrTokenNotFound)
	require.NoError(t, store.Delete(ctx, key))
}

func TestFileTokenStoreCorruptFileIsNotNotFound(t *testing.T) {
	t.Parallel()
	store, err := bitrix24.NewFileTokenStore(t.TempDir())
	require.NoError(t, err)
	key := bitrix24.TokenKey{MemberID: "m"}
	require.NoError(t, os.WriteFile(store.Path(key), []byte(`{"access_token":"s3cr3t-0123456789`), 0o600))
	_, err = store.Load(context.Background(), key)
	require.Error(t, err)
	assert.NotErrorIs(t, err, bitrix24.ErrTokenNotFound)
	assert.NotContains(t, err.Error(), "s3cr3t")
}

func TestTokenLockersExcludeEachOther(t *testing.T) {
	t.Parallel()
	fileStore, err := bitrix24.NewFileTokenStore(t.TempDir())
	require.NoError(t, err)
	for name, locker := range map[string]bitrix24.TokenLocker{"memory": bitrix24.NewMemoryTokenStore(), "file": fileStore} {
		t.Run(name, func(t *testing.T) {
			key := bitrix24.TokenKey{MemberID: "m"}
			unlock, err := locker.LockToken(context.Background(), key)
			require.NoError(t, err)
			// A waiter whose ctx ends gives up with ctx's error.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err = locker.LockToken(ctx, key)
			require.ErrorIs(t, err, context.Canceled)
			// Another key is not blocked.
			unlockOther, err := locker.LockToken(context.Background(), bitrix24.TokenKey{MemberID: "m", UserID: 2})
			require.NoError(t, err)
			unlockOther()
			// Once released, the lock can be taken again.
			got := make(chan struct{})
			go func() {
				u, err := locker.LockToken(context.Background(), key)
				if err == nil {
					u()
				}
				close(got)
			}()
			unlock()
			unlock() // a second call is harmless
			<-got
		})
	}
}

// Environment of the child processes of TestFileStoreAcrossProcesses.
const (
	envChild    = "BITRIX24_TEST_TOKEN_CHILD"
	envChildDir = "BITRIX24_TEST_TOKEN_DIR"
)

// The multi-process measurement: 4 OS processes (this test binary, re-executed)
// share a file store, 8 goroutines each, on an expired pair: exactly one refresh, no
// invalid_grant.
func TestFileStoreAcrossProcesses(t *testing.T) {
	if os.Getenv(envChild) != "" {
		t.Skip("child process")
	}
	if testing.Short() {
		t.Skip("starts OS processes")
	}
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0), bitrix24test.WithPlainHTTP())
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	store, err := bitrix24.NewFileTokenStore(dir)
	require.NoError(t, err)
	cfg := srv.OAuthConfig()
	require.NoError(t, store.Save(context.Background(), bitrix24.TokenKey{MemberID: srv.MemberID()}, cfg.Token))
	srv.ExpireAccessToken()

	var wg sync.WaitGroup
	outputs := make([]string, 4)
	failures := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFileStoreChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), envChild+"="+strings.Join([]string{srv.URL, cfg.ClientID, cfg.ClientSecret,
				srv.MemberID()}, " "), envChildDir+"="+dir)
			out, err := cmd.CombinedOutput()
			outputs[i], failures[i] = string(out), err
		}()
	}
	wg.Wait()
	for i := range 4 {
		require.NoError(t, failures[i], "child %d:\n%s", i, outputs[i])
	}
	assert.Equal(t, 1, srv.Refreshes(), "one refresh across 4 processes")
}

// TestFileStoreChild is the child of TestFileStoreAcrossProcesses.
func TestFileStoreChild(t *testing.T) {
	spec := os.Getenv(envChild)
	if spec == "" {
		t.Skip("run by TestFileStoreAcrossProcesses")
	}
	f := strings.Fields(spec)
	store, err := bitrix24.NewFileTokenStore(os.Getenv(envChildDir))
	require.NoError(t, err)
	c, err := bitrix24.NewOAuthClient(bitrix24.OAuthConfig{
		PortalURL: f[0], ClientID: f[1], ClientSecret: f[2], TokenURL: f[0] + "/oauth/token/",
		Store: store, StoreKey: bitrix24.TokenKey{MemberID: f[3]},
	}, bitrix24.WithAllowHTTP(), bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(3, time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	errs := hammer(8, 8, func(int) error { return c.Call(context.Background(), "server.time", nil, nil) })
	require.Empty(t, errs)
}

// A store without a lock cannot keep two clients from refreshing at once, but the one
// that loses the race adopts the winner's pair instead of failing with invalid_grant.
func TestStoreWithoutLockLosersAdopt(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t, bitrix24test.WithRateLimit(0, 0))
	store := struct{ bitrix24.TokenStore }{bitrix24.NewMemoryTokenStore()} // Load and Save only
	initial := srv.Token()
	clients := make([]*bitrix24.Client, 4)
	for i := range clients {
		clients[i] = storeClient(t, srv, store, initial)
		require.NoError(t, clients[i].Call(context.Background(), "server.time", nil, nil))
	}
	srv.ExpireAccessToken()
	errs := hammer(40, 40, func(i int) error {
		return clients[i%4].Call(context.Background(), "server.time", nil, nil)
	})
	require.Empty(t, errs)
	assert.GreaterOrEqual(t, srv.Refreshes(), 1)
}
