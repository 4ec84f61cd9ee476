package bitrix24redis_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/alicebob/miniredis/v2"
	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24redis"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/redis/go-redis/v9"
)

// Every process that calls one portal from one address shares one budget: Bitrix24
// counts per portal and source IP.
func ExampleNewLimiter() {
	mr := miniredis.NewMiniRedis() // in production: your Redis
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	portal := bitrix24test.NewServer() // in production: the portal's webhook URL
	defer portal.Close()

	// The standard plan's bucket: 2 requests per second, 50 at once.
	limiter := bitrix24redis.NewLimiter(rdb, "bitrix24:rate:"+portal.MemberID(), 2, 50)
	c, err := bitrix24.NewWebhookClient(portal.WebhookURL(),
		bitrix24.WithHTTPClient(portal.Client()), bitrix24.WithLimiter(limiter))
	if err != nil {
		log.Fatal(err)
	}
	var now string
	if err := c.Call(context.Background(), "server.time", nil, &now); err != nil {
		log.Fatal(err)
	}
	fmt.Println("called; refused by the portal:", portal.QueryLimitRefusals())
	// Output: called; refused by the portal: 0
}

// Every process of the application holds the same pair and refreshes it once per expiry,
// under the store's lock.
func ExampleNewTokenStore() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	portal := bitrix24test.NewServer()
	defer portal.Close()
	cfg := portal.OAuthConfig() // ClientID, ClientSecret, PortalURL and the installation's pair

	store := bitrix24redis.NewTokenStore(rdb, "myapp:")
	key := bitrix24.TokenKey{MemberID: cfg.Token.MemberID}
	// Once, at installation: save the pair the portal sent.
	if err := store.Save(context.Background(), key, cfg.Token); err != nil {
		log.Fatal(err)
	}

	// In every process: no Token in the config, the pair comes from the store.
	cfg.Token = bitrix24.Token{}
	cfg.Store, cfg.StoreKey = store, key
	c, err := bitrix24.NewOAuthClient(cfg, bitrix24.WithHTTPClient(portal.Client()))
	if err != nil {
		log.Fatal(err)
	}
	portal.ExpireAccessToken() // the pair expires: the client refreshes it and saves the new one
	if err := c.Call(context.Background(), "server.time", nil, nil); err != nil {
		log.Fatal(err)
	}
	stored, err := store.Load(context.Background(), key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refreshes:", portal.Refreshes(), "store holds the new pair:", stored.RefreshToken == portal.Token().RefreshToken)
	// Output: refreshes: 1 store holds the new pair: true
}

// SwapToken saves a pair only over the pair it was read against: a holder whose lease ran
// out never overwrites a newer pair. The client does this by itself after a refresh.
func ExampleTokenStore_SwapToken() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	ctx := context.Background()
	store := bitrix24redis.NewTokenStore(rdb, "myapp:")
	key := bitrix24.TokenKey{MemberID: "a1b2c3"}
	read := bitrix24.Token{AccessToken: "old-access", RefreshToken: "old-refresh"}
	if err := store.Save(ctx, key, read); err != nil {
		log.Fatal(err)
	}
	// Another process saved a newer pair meanwhile.
	if err := store.Save(ctx, key, bitrix24.Token{AccessToken: "newer-access", RefreshToken: "newer-refresh"}); err != nil {
		log.Fatal(err)
	}
	err := store.SwapToken(ctx, key, read, bitrix24.Token{AccessToken: "mine", RefreshToken: "mine-refresh"})
	fmt.Println("changed:", errors.Is(err, bitrix24.ErrTokenChanged))
	// Output: changed: true
}

// LeaseToken is LockToken with a way to ask whether the lease is still held: a process
// paused past its lease learns it before it acts on the pair.
func ExampleTokenStore_LeaseToken() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	ctx := context.Background()
	store := bitrix24redis.NewTokenStore(rdb, "myapp:")
	key := bitrix24.TokenKey{MemberID: "a1b2c3"}
	held, unlock, err := store.LeaseToken(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	defer unlock()
	fmt.Println("held:", held(ctx) == nil)
	mr.Del(store.LockKeyName(key)) // the lease ran out and another process took the lock
	fmt.Println("lost:", errors.Is(held(ctx), bitrix24.ErrLeaseLost))
	// Output:
	// held: true
	// lost: true
}
