package bitrix24_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// Two clients that share one pair through a store: when the access token expires, one
// refresh serves both, and neither is logged out.
func ExampleNewMemoryTokenStore() {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	store := bitrix24.NewMemoryTokenStore()
	newClient := func() *bitrix24.Client {
		cfg := srv.OAuthConfig()
		cfg.Store = store // the pair comes from and goes to the store
		client, err := bitrix24.NewOAuthClient(cfg, bitrix24.WithHTTPClient(srv.Client()))
		if err != nil {
			log.Fatal(err)
		}
		return client
	}
	a, b := newClient(), newClient()
	ctx := context.Background()
	srv.ExpireAccessToken()
	for _, client := range []*bitrix24.Client{a, b, a, b} {
		if err := client.Call(ctx, "server.time", nil, nil); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("refreshes:", srv.Refreshes())
	// Output: refreshes: 1
}

// A file store for a command-line tool that runs beside a server on one machine: the
// pair lives in a 0600 file, rotated atomically, and a refresh holds a file lock.
func ExampleNewFileTokenStore() {
	dir, err := os.MkdirTemp("", "tokens")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := bitrix24.NewFileTokenStore(dir)
	if err != nil {
		log.Fatal(err)
	}
	key := bitrix24.TokenKey{MemberID: "a223c6b3710f85df22e9377d6c4f7553"}
	_, err = store.Load(context.Background(), key)
	fmt.Println(err != nil)
	client, err := bitrix24.NewOAuthClient(bitrix24.OAuthConfig{
		PortalURL: "https://example.bitrix24.com", ClientID: "app.1", ClientSecret: "secret",
		Store: store, StoreKey: key, // Token is loaded from the store on the first call
	})
	fmt.Println(client != nil, err)
	// Output:
	// true
	// true <nil>
}
