// Command redis shows several clients (standing in for several processes or machines)
// sharing one rate budget and one OAuth token pair through Redis, with package
// bitrix24redis.
//
// Redis: REDIS_URL (e.g. redis://localhost:6379/0) when set, otherwise an embedded
// miniredis. Portal: with no BITRIX24_* variables set it starts bitrix24test, the
// in-process fake portal; with BITRIX24_PORTAL_URL, BITRIX24_CLIENT_ID,
// BITRIX24_CLIENT_SECRET, BITRIX24_ACCESS_TOKEN and BITRIX24_REFRESH_TOKEN set it runs
// against that portal (the pair is saved to Redis unless Redis already holds one).
//
// This program is a module of its own (it needs go-redis, which the SDK's root module does
// not depend on); from the repository root, `go run ./examples/redis` uses go.work.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24redis"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "redis example:", err)
		os.Exit(1)
	}
}

// connectRedis returns a client of REDIS_URL or of an embedded server.
func connectRedis() (*redis.Client, func(), error) {
	if u := os.Getenv("REDIS_URL"); u != "" {
		opts, err := redis.ParseURL(u)
		if err != nil {
			return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		fmt.Println("redis: " + opts.Addr)
		rdb := redis.NewClient(opts)
		return rdb, func() { _ = rdb.Close() }, nil
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return nil, nil, err
	}
	fmt.Println("redis: embedded miniredis at " + mr.Addr() + " (set REDIS_URL to use a real one)")
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	return rdb, func() { _ = rdb.Close(); mr.Close() }, nil
}

// portal is where the example runs: a real portal or the fake one.
type portal struct {
	oauth bitrix24.OAuthConfig
	opts  []bitrix24.Option
	fake  *bitrix24test.Server // nil for a real portal
	calls int
}

func connectPortal() portal {
	if u := os.Getenv("BITRIX24_PORTAL_URL"); u != "" {
		fmt.Println("portal: " + u)
		return portal{
			oauth: bitrix24.OAuthConfig{
				PortalURL:    u,
				ClientID:     os.Getenv("BITRIX24_CLIENT_ID"),
				ClientSecret: os.Getenv("BITRIX24_CLIENT_SECRET"),
				Token: bitrix24.Token{
					AccessToken:  os.Getenv("BITRIX24_ACCESS_TOKEN"),
					RefreshToken: os.Getenv("BITRIX24_REFRESH_TOKEN"),
				},
			},
			calls: 10, // spend little of a real portal's budget
		}
	}
	srv := bitrix24test.NewServer()
	fmt.Println("portal: bitrix24test fake at " + srv.URL + " (set BITRIX24_PORTAL_URL to use a real one)")
	cfg := srv.OAuthConfig()
	return portal{oauth: cfg, opts: []bitrix24.Option{bitrix24.WithHTTPClient(srv.Client())}, fake: srv, calls: 45}
}

func run(ctx context.Context) error {
	rdb, closeRedis, err := connectRedis()
	if err != nil {
		return err
	}
	defer closeRedis()
	p := connectPortal()
	if p.fake != nil {
		defer p.fake.Close()
	}
	host := p.oauth.PortalURL
	if u, err := url.Parse(host); err == nil {
		host = u.Host
	}

	// One budget per portal (and egress address): the standard plan's 2/s, burst 50.
	limiter := bitrix24redis.NewLimiter(rdb, "bitrix24:rate:"+host, bitrix24.DefaultRatePerSecond, bitrix24.DefaultBurst)
	// One pair per installation, kept under the "bitrix24:" prefix.
	store := bitrix24redis.NewTokenStore(rdb, "bitrix24:")
	key := bitrix24.TokenKey{MemberID: p.oauth.Token.MemberID}
	if key.MemberID == "" {
		key.MemberID = host // a pair from the environment does not name its installation
	}
	if _, err := store.Load(ctx, key); errors.Is(err, bitrix24.ErrTokenNotFound) {
		if err := store.Save(ctx, key, p.oauth.Token); err != nil {
			return err
		}
		fmt.Println("token pair saved to Redis under", store.TokenKeyName(key))
	} else if err != nil {
		return err
	}

	// Three clients stand in for three processes: each has its own config, and all of
	// them take the pair from the store and pace themselves through the shared limiter.
	var clients []*bitrix24.Client
	for range 3 {
		cfg := p.oauth
		cfg.Token = bitrix24.Token{} // loaded from the store
		cfg.Store, cfg.StoreKey = store, key
		c, err := bitrix24.NewOAuthClient(cfg, append(p.opts, bitrix24.WithLimiter(limiter))...)
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, p.calls)
	for i := range p.calls {
		wg.Go(func() {
			errs <- clients[i%len(clients)].Call(ctx, "server.time", nil, nil)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Printf("%d calls from 3 clients through one Redis limiter in %v\n", p.calls, time.Since(start).Round(time.Millisecond))

	if p.fake != nil {
		fmt.Println("portal refused:", p.fake.QueryLimitRefusals())
		// The access token expires: all three clients notice, one of them refreshes under
		// the store's lock, the others adopt the pair it saved.
		p.fake.ExpireAccessToken()
		errs := make(chan error, len(clients))
		for _, c := range clients {
			wg.Go(func() { errs <- c.Call(ctx, "server.time", nil, nil) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		fmt.Println("refreshes after the token expired:", p.fake.Refreshes())
		if n := p.fake.Refreshes(); n != 1 {
			return fmt.Errorf("%d refreshes, want 1", n)
		}
	}
	t, err := store.Load(ctx, key)
	if err != nil {
		return err
	}
	fmt.Printf("stored pair: %v\n", t) // String hides both tokens
	return nil
}
