package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// context returns the command's context, bounded by --timeout when it is set.
func (a *cli) context(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if a.timeout > 0 {
		return context.WithTimeout(ctx, a.timeout)
	}
	return context.WithCancel(ctx)
}

// withClient runs f with the command's context (bounded by --timeout) and the client
// the settings say, so that every command connects the same way.
func (a *cli) withClient(cmd *cobra.Command, f func(ctx context.Context, c *bitrix24.Client) error) error {
	ctx, cancel := a.context(cmd)
	defer cancel()
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	return f(ctx, c)
}

// clientOptions are the SDK options every client of this run gets.
func (a *cli) clientOptions() []bitrix24.Option {
	burst := a.burst
	if a.rate == 0 {
		burst = 0
	}
	opts := []bitrix24.Option{bitrix24.WithRateLimit(a.rate, burst)}
	if a.allowHTTP {
		opts = append(opts, bitrix24.WithAllowHTTP())
	}
	if a.verbose {
		opts = append(opts, bitrix24.WithLogger(slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	if a.fake != nil {
		// The fake answers at once: retry without making anyone wait.
		opts = append(opts, bitrix24.WithHTTPClient(a.fake.Client()), bitrix24.WithRetry(3, time.Millisecond, 20*time.Millisecond))
	}
	return opts
}

// useWebhook tells which credentials to use.
func (a *cli) useWebhook() bool {
	switch a.authMode {
	case "webhook":
		return true
	case "oauth":
		return false
	}
	return a.webhookURL != "" && !a.fakeMode
}

// client connects as the settings say: the fake portal, a webhook or an application
// whose pair lives in the token file.
func (a *cli) client(ctx context.Context) (*bitrix24.Client, error) {
	if a.fakeMode {
		return a.fakeClient(ctx)
	}
	if a.useWebhook() {
		if a.webhookURL == "" {
			return nil, usageError{fmt.Errorf("--auth webhook needs --webhook-url or %s", envWebhookURL)}
		}
		return bitrix24.NewWebhookClient(a.webhookURL, a.clientOptions()...)
	}
	if a.clientID == "" || a.clientSecret == "" {
		return nil, usageError{fmt.Errorf("no credentials: set %s, or %s and %s with a token file (see --help)",
			envWebhookURL, envClientID, envClientSecret)}
	}
	store, path, err := a.tokenStore()
	if err != nil {
		return nil, err
	}
	// The file holds one pair, whatever the key: read it for its portal and member id.
	tok, err := store.Load(ctx, fileKey)
	if err != nil {
		return nil, noPair(path, err)
	}
	portal := a.portalURL
	if portal == "" {
		portal = tok.ClientEndpoint
		if portal == "" {
			return nil, usageError{fmt.Errorf("the token file %s names no portal: set --portal-url or %s", path, envPortalURL)}
		}
	}
	key := bitrix24.TokenKey{MemberID: tok.MemberID, UserID: tok.UserID}
	if key.MemberID == "" {
		key = fileKey
	}
	cfg := bitrix24.OAuthConfig{
		PortalURL: portal, ClientID: a.clientID, ClientSecret: a.clientSecret, TokenURL: a.tokenURL,
		Token: tok, Store: store, StoreKey: key, OnTokenRefresh: a.refreshed(path),
	}
	return bitrix24.NewOAuthClient(cfg, a.clientOptions()...)
}

// fileKey reads the one pair of a token file: a store made by NewFileTokenStoreAt maps
// every key to its file, and every store refuses an empty member id.
var fileKey = bitrix24.TokenKey{MemberID: "token-file"}

// noPair explains a token file without a pair; it keeps matching ErrTokenNotFound (an
// authentication failure).
func noPair(path string, err error) error {
	if errors.Is(err, bitrix24.ErrTokenNotFound) {
		return fmt.Errorf("no token pair in %s: run 'bitrix24 auth url' and 'bitrix24 auth exchange CODE' first: %w", path, err)
	}
	return err
}

// refreshed tells, with --verbose, that the pair was rotated; the store has saved it.
func (a *cli) refreshed(path string) func(context.Context, bitrix24.Token) error {
	return func(_ context.Context, t bitrix24.Token) error {
		if a.verbose {
			fmt.Fprintf(a.stderr, "token pair refreshed and saved to %s (expires %s)\n", path, expiry(t))
		}
		return nil
	}
}

func expiry(t bitrix24.Token) string {
	if t.Expiry.IsZero() {
		return "unknown"
	}
	return t.Expiry.UTC().Format(time.RFC3339)
}

// tokenStore opens the token file: --token-file, the environment, or the default under
// the user's configuration directory.
func (a *cli) tokenStore() (*bitrix24.FileTokenStore, string, error) {
	path := a.tokenFile
	if path == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return nil, "", usageError{fmt.Errorf("no token file: set --token-file or %s (%w)", envTokenFile, err)}
		}
		path = filepath.Join(dir, "bitrix24", "token.json")
	}
	store, err := bitrix24.NewFileTokenStoreAt(path)
	return store, path, err
}

// Hidden test hooks of --fake, read from the environment (see main_test.go).
const (
	// hookFakeExpire makes the fake expire the access token it issued, so that the
	// first call refreshes the pair.
	hookFakeExpire = "BITRIX24_FAKE_EXPIRE"
	// hookFakeSeedCopy names a file that receives a copy of the token file as seeded,
	// before any call: a test compares it with the file after the run.
	hookFakeSeedCopy = "BITRIX24_FAKE_SEED_COPY"
	// hookFakeFault injects failures: METHOD:KIND[:TIMES][,...], KIND an error code
	// (sent with its usual status, or CODE/STATUS), "drop" (the connection closes) or
	// "html" (a 502 page); TIMES defaults to more than any retry policy tries.
	hookFakeFault = "BITRIX24_FAKE_FAULT"
)

// The fake portal holds fakeDeals deals (crm.item.list entityTypeId=2), enough for
// three pages of 50.
const (
	crmDeals  = 2
	fakeDeals = 120
)

// startFake starts the in-process portal once per run.
func (a *cli) startFake() (*bitrix24test.Server, error) {
	if a.fake != nil {
		return a.fake, nil
	}
	srv := bitrix24test.NewServer(
		bitrix24test.WithScope(bitrix24test.DefaultScope+",crm"),
		bitrix24test.WithWebhookScope(bitrix24test.DefaultWebhookScope+",crm"))
	if err := injectFaults(srv, a.getenv(hookFakeFault)); err != nil {
		srv.Close()
		return nil, err
	}
	srv.SeedCRMItems(crmDeals, fakeDeals)
	a.fake = srv
	a.note("using an in-process fake portal at %s; nothing leaves this machine", srv.URL)
	return srv, nil
}

// fakeClient connects to the fake portal: its webhook, or its installed application.
// A named token file is seeded with the application's pair and then used like a real
// one, so refreshes rotate it.
func (a *cli) fakeClient(ctx context.Context) (*bitrix24.Client, error) {
	srv, err := a.startFake()
	if err != nil {
		return nil, err
	}
	if a.authMode == "webhook" {
		return bitrix24.NewWebhookClient(srv.WebhookURL(), a.clientOptions()...)
	}
	cfg := srv.OAuthConfig()
	if a.tokenFile != "" {
		store, path, err := a.tokenStore()
		if err != nil {
			return nil, err
		}
		if err := store.Save(ctx, bitrix24.TokenKey{MemberID: cfg.Token.MemberID, UserID: cfg.Token.UserID}, cfg.Token); err != nil {
			return nil, err
		}
		if copyTo := a.getenv(hookFakeSeedCopy); copyTo != "" {
			if err := copyFile(path, copyTo); err != nil {
				return nil, err
			}
		}
		cfg.StoreKey = bitrix24.TokenKey{MemberID: cfg.Token.MemberID, UserID: cfg.Token.UserID}
		cfg.Token, cfg.Store, cfg.OnTokenRefresh = bitrix24.Token{}, store, a.refreshed(path)
	}
	if a.getenv(hookFakeExpire) != "" {
		srv.ExpireAccessToken()
	}
	return bitrix24.NewOAuthClient(cfg, a.clientOptions()...)
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o600)
}

// injectFaults reads the hookFakeFault specification.
func injectFaults(srv *bitrix24test.Server, spec string) error {
	if spec == "" {
		return nil
	}
	for _, item := range strings.Split(spec, ",") {
		parts := strings.Split(strings.TrimSpace(item), ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return fmt.Errorf("%s: %q is not METHOD:KIND[:TIMES]", hookFakeFault, item)
		}
		method, kind, times := parts[0], parts[1], 100 // by default more than any retry policy tries
		if len(parts) == 3 {
			n, err := strconv.Atoi(parts[2])
			if err != nil || n < 1 {
				return fmt.Errorf("%s: bad count in %q", hookFakeFault, item)
			}
			times = n
		}
		var f bitrix24test.Fault
		switch kind {
		case "drop":
			f = bitrix24test.FaultDrop()
		case "html":
			f = bitrix24test.FaultHTML(502)
		default:
			code, explicit, hasStatus := strings.Cut(kind, "/")
			status := defaultFaultStatus(code)
			if hasStatus {
				n, err := strconv.Atoi(explicit)
				if err != nil {
					return fmt.Errorf("%s: bad status in %q", hookFakeFault, item)
				}
				status = n
			}
			kind = code
			f = bitrix24test.FaultError(status, kind, "injected by "+hookFakeFault)
		}
		srv.InjectFault(method, times, f)
	}
	return nil
}

// defaultFaultStatus is the HTTP status the real server sends with code.
func defaultFaultStatus(code string) int {
	switch strings.ToUpper(code) {
	case "QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT":
		return 503
	case "OPERATION_TIME_LIMIT":
		return 429
	case "NO_AUTH_FOUND", "EXPIRED_TOKEN", "INVALID_TOKEN":
		return 401
	case "INTERNAL_SERVER_ERROR":
		return 500
	}
	return 400
}
