package bitrix24redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24redis"
	"github.com/b24go/bitrix24/bitrix24test"
)

// The interfaces the root client uses.
var (
	_ bitrix24.TokenStore  = (*bitrix24redis.TokenStore)(nil)
	_ bitrix24.TokenLocker = (*bitrix24redis.TokenStore)(nil)
	_ bitrix24.Limiter     = (*bitrix24redis.Limiter)(nil)
)

const (
	secretAccess  = "acc3ss0000secret0000value0000aaaa"
	secretRefresh = "refr3sh000secret0000value0000bbbb"
	memberID      = "4c1f9e0b7d2a48f6a3e5b9c0d8f7e6a1"
)

func fullToken() bitrix24.Token {
	return bitrix24.Token{
		AccessToken:    secretAccess,
		RefreshToken:   secretRefresh,
		Expiry:         time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("MSK", 3*3600)),
		Scope:          "crm,user,placement",
		MemberID:       memberID,
		ClientEndpoint: "https://acme.bitrix24.com/rest/",
		ServerEndpoint: "https://oauth.bitrix.info/rest/",
		UserID:         7,
	}
}

func TestTokenStoreRoundTrip(t *testing.T) {
	r := startRedis(t)
	s := bitrix24redis.NewTokenStore(r.client(t), "b24:")
	ctx := context.Background()
	key := bitrix24.TokenKey{MemberID: memberID, UserID: 7}
	want := fullToken()
	if err := s.Save(ctx, key, want); err != nil {
		t.Fatal(err)
	}
	// Another store (another process) on the same prefix reads it.
	got, err := bitrix24redis.NewTokenStore(r.client(t), "b24").Load(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Expiry.Equal(want.Expiry) {
		t.Errorf("Expiry = %v, want %v", got.Expiry, want.Expiry)
	}
	got.Expiry, want.Expiry = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("Load = %#v\nwant %#v", got, want)
	}

	// A zero Expiry stays zero; Save replaces the pair.
	zero := bitrix24.Token{AccessToken: "a2", RefreshToken: "r2"}
	if err := s.Save(ctx, key, zero); err != nil {
		t.Fatal(err)
	}
	got, err = s.Load(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Expiry.IsZero() || got != zero {
		t.Errorf("Load = %#v, want %#v", got, zero)
	}
	// Keys are distinct per user.
	if _, err := s.Load(ctx, bitrix24.TokenKey{MemberID: memberID}); !errors.Is(err, bitrix24.ErrTokenNotFound) {
		t.Errorf("Load of another user = %v, want ErrTokenNotFound", err)
	}
}

func TestTokenStoreNotFoundAndDelete(t *testing.T) {
	r := startRedis(t)
	s := bitrix24redis.NewTokenStore(r.client(t), "b24:")
	ctx := context.Background()
	key := bitrix24.TokenKey{MemberID: memberID}
	if _, err := s.Load(ctx, key); !errors.Is(err, bitrix24.ErrTokenNotFound) {
		t.Fatalf("Load of a missing pair = %v", err)
	}
	if err := s.Save(ctx, key, fullToken()); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, err := s.Load(ctx, key); !errors.Is(err, bitrix24.ErrTokenNotFound) {
		t.Fatalf("Load after Delete = %v", err)
	}
}

// A value that is not the store's format is an error, not a pair, and the error does not
// echo the stored bytes.
func TestTokenStoreCorruptValue(t *testing.T) {
	r := startRedis(t)
	rdb := r.client(t)
	s := bitrix24redis.NewTokenStore(rdb, "b24:")
	key := bitrix24.TokenKey{MemberID: memberID}
	if err := rdb.Set(context.Background(), s.TokenKeyName(key), `{"v":1,"token":{"AccessToken":"`+secretAccess, 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load(context.Background(), key)
	if err == nil || errors.Is(err, bitrix24.ErrTokenNotFound) || strings.Contains(err.Error(), secretAccess) {
		t.Fatalf("Load of a corrupt value = %v", err)
	}
}

// Every key the store writes, locks included, starts with the prefix, and no key name
// holds a token or the member ID.
func TestTokenStoreKeyNames(t *testing.T) {
	r := startRedis(t)
	rdb := r.client(t)
	ctx := context.Background()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	s := bitrix24redis.NewTokenStore(rdb, "app1")
	for _, key := range []bitrix24.TokenKey{{MemberID: memberID}, {MemberID: memberID, UserID: 3}, {MemberID: secretAccess}} {
		if err := s.Save(ctx, key, fullToken()); err != nil {
			t.Fatal(err)
		}
		unlock, err := s.LockToken(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := rdb.Keys(ctx, "*").Result()
		unlock()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) < 2 {
			t.Fatalf("keys %q: want the pair and the lock", keys)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "app1:") {
				t.Errorf("key %q is not under the prefix", k)
			}
			for _, secret := range []string{secretAccess, secretRefresh, memberID} {
				if strings.Contains(k, secret) {
					t.Errorf("key %q contains %q", k, secret)
				}
			}
		}
	}
}

// Redis refusing connections: errors at once, never ErrTokenNotFound, never a secret.
func TestTokenStoreRedisDown(t *testing.T) {
	s := bitrix24redis.NewTokenStore(newClient(t, closedAddr(t)), "b24:")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key := bitrix24.TokenKey{MemberID: memberID}
	calls := map[string]func() error{
		"Load": func() error {
			_, err := s.Load(ctx, key)
			if errors.Is(err, bitrix24.ErrTokenNotFound) {
				return fmt.Errorf("reported as not found: %w", err)
			}
			return err
		},
		"Save":   func() error { return s.Save(ctx, key, fullToken()) },
		"Delete": func() error { return s.Delete(ctx, key) },
		"LockToken": func() error {
			unlock, err := s.LockToken(ctx, key)
			if err == nil {
				unlock()
			}
			return err
		},
	}
	var wg sync.WaitGroup
	for name, call := range calls {
		wg.Go(func() {
			err := call()
			if err == nil || strings.Contains(err.Error(), "reported as not found") ||
				strings.Contains(err.Error(), secretAccess) || strings.Contains(err.Error(), secretRefresh) {
				t.Errorf("%s without Redis = %v", name, err)
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the calls took until their deadline")
	}
}

// Redis accepting connections and never answering: every call ends with ctx's deadline.
func TestTokenStoreRedisHangs(t *testing.T) {
	s := bitrix24redis.NewTokenStore(newClient(t, silentAddr(t)), "b24:")
	key := bitrix24.TokenKey{MemberID: memberID}
	calls := map[string]func(context.Context) error{
		"Load": func(ctx context.Context) error { _, err := s.Load(ctx, key); return err },
		"Save": func(ctx context.Context) error { return s.Save(ctx, key, fullToken()) },
		"LockToken": func(ctx context.Context) error {
			unlock, err := s.LockToken(ctx, key)
			if err == nil {
				unlock()
			}
			return err
		},
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- call(ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, bitrix24.ErrTokenNotFound) {
				t.Errorf("%s on a silent Redis = %v, want DeadlineExceeded", name, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s hung on a silent Redis", name)
		}
		cancel()
	}
}

func TestTokenStoreValidation(t *testing.T) {
	s := bitrix24redis.NewTokenStore(nil, "b24:")
	ctx := context.Background()
	key := bitrix24.TokenKey{MemberID: memberID}
	if _, err := s.Load(ctx, key); !errors.Is(err, bitrix24.ErrValidation) {
		t.Errorf("Load = %v", err)
	}
	if err := s.Save(ctx, key, fullToken()); !errors.Is(err, bitrix24.ErrValidation) {
		t.Errorf("Save = %v", err)
	}
	if _, err := s.LockToken(ctx, key); !errors.Is(err, bitrix24.ErrValidation) {
		t.Errorf("LockToken = %v", err)
	}
	r := startRedis(t)
	short := bitrix24redis.NewTokenStore(r.client(t), "b24:").WithLockLease(time.Millisecond)
	if _, err := short.LockToken(ctx, key); !errors.Is(err, bitrix24.ErrValidation) {
		t.Errorf("LockToken with a 1 ms lease = %v", err)
	}
}

func ExampleNewTokenStore_keyNames() {
	s := bitrix24redis.NewTokenStore(nil, "myapp")
	key := bitrix24.TokenKey{MemberID: "4c1f9e0b7d2a48f6a3e5b9c0d8f7e6a1", UserID: 0}
	fmt.Println(s.TokenKeyName(key))
	fmt.Println(s.LockKeyName(key))
	// Output:
	// myapp:token:b2fa23da85e03f943d04a7958d189655:0
	// myapp:lock:b2fa23da85e03f943d04a7958d189655:0
}

// Four clients, each on its own Redis connection as four processes would be, share an
// expired pair through the store: one refresh, every call succeeds, the store holds the
// portal's current pair.
func TestTokenStoreSharedRefresh(t *testing.T) {
	r := startRedis(t)
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0))
	t.Cleanup(srv.Close)
	cfg := srv.OAuthConfig()
	key := bitrix24.TokenKey{MemberID: srv.MemberID()}
	if err := bitrix24redis.NewTokenStore(r.client(t), "b24:").Save(context.Background(), key, cfg.Token); err != nil {
		t.Fatal(err)
	}
	srv.ExpireAccessToken()
	var wg sync.WaitGroup
	for range 4 {
		c, err := bitrix24.NewOAuthClient(bitrix24.OAuthConfig{
			PortalURL: cfg.PortalURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: cfg.TokenURL,
			Store: bitrix24redis.NewTokenStore(r.client(t), "b24:"), StoreKey: key,
		}, bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithRateLimit(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := c.Call(ctx, "server.time", nil, nil); err != nil {
					t.Errorf("Call: %v", err)
				}
			})
		}
	}
	wg.Wait()
	if n := srv.Refreshes(); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	stored, err := bitrix24redis.NewTokenStore(r.client(t), "b24:").Load(context.Background(), key)
	if err != nil || stored.RefreshToken != srv.Token().RefreshToken {
		t.Errorf("the store does not hold the current pair (%v)", err)
	}
}

// Issue 20, item 8: an empty member id is refused before Redis is asked, so two portals
// configured without one never share a pair.
func TestTokenStoreRefusesEmptyMemberID(t *testing.T) {
	r := startRedis(t)
	s := bitrix24redis.NewTokenStore(r.client(t), "b24:")
	ctx := context.Background()
	empty := bitrix24.TokenKey{UserID: 7}
	if err := s.Save(ctx, empty, fullToken()); !errors.Is(err, bitrix24.ErrValidation) {
		t.Fatalf("Save: %v, want ErrValidation", err)
	}
	if _, err := s.Load(ctx, empty); !errors.Is(err, bitrix24.ErrValidation) {
		t.Fatalf("Load: %v, want ErrValidation", err)
	}
	if err := s.Delete(ctx, empty); !errors.Is(err, bitrix24.ErrValidation) {
		t.Fatalf("Delete: %v, want ErrValidation", err)
	}
	if _, err := s.LockToken(ctx, empty); !errors.Is(err, bitrix24.ErrValidation) {
		t.Fatalf("LockToken: %v, want ErrValidation", err)
	}
	if _, _, err := s.LeaseToken(ctx, empty); !errors.Is(err, bitrix24.ErrValidation) {
		t.Fatalf("LeaseToken: %v, want ErrValidation", err)
	}
	if err := s.SwapToken(ctx, empty, fullToken(), fullToken()); !errors.Is(err, bitrix24.ErrValidation) {
		t.Fatalf("SwapToken: %v, want ErrValidation", err)
	}
}
