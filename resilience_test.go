package bitrix24_test

// Resilience against bitrix24test with its limits on: pacing, retries, cancellation,
// hostile answers, redirects and secret hygiene on every failure path.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Idle keep-alive connections of http.Clients are closed lazily.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// hammer runs n calls of fn from g goroutines and returns the errors.
func hammer(g, n int, fn func(i int) error) []error {
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for w := 0; w < g; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return errs
}

// The client's bucket matches the server's: 1,000 calls from 32 goroutines, no refusal.
// The property is about schedules, not about this machine's speed: in a synctest bubble
// the fake's clock is the bubble's and each request reaches the handler at the instant
// the limiter lets it go, so load on the machine cannot squeeze requests together.
func TestRateLimitMatchingServerSendsNoRefusal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate  float64
		burst int
	}{
		{250, 50}, // a fast portal: the 100 ms headroom term decides
		{bitrix24.DefaultRatePerSecond, bitrix24.DefaultBurst},
		{5, 250}, // Enterprise
		{3, 2},   // no headroom at all, 1/rate not a whole number of nanoseconds
	} {
		t.Run(fmt.Sprintf("rate=%v/burst=%d", tc.rate, tc.burst), func(t *testing.T) {
			t.Parallel()
			srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(tc.rate, tc.burst))
			t.Cleanup(srv.Close)
			synctest.Test(t, func(t *testing.T) {
				c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(),
					bitrix24.WithHTTPClient(srv.InProcessClient()), bitrix24.WithRateLimit(tc.rate, tc.burst))
				require.NoError(t, err)
				start := time.Now()
				errs := hammer(32, 1000, func(i int) error {
					return c.UserOption.Set(context.Background(), map[string]any{fmt.Sprintf("k%d", i%10): i})
				})
				require.Empty(t, errs)
				assert.Equal(t, 0, srv.QueryLimitRefusals(), "a client paced like the server is never refused")
				assert.Equal(t, 1000, srv.Requests("user.option.set"))
				// Pacing does not cost throughput: past the burst, one call per 1/rate.
				ideal := time.Duration(float64(1000-tc.burst) / tc.rate * float64(time.Second))
				assert.GreaterOrEqual(t, time.Since(start), ideal)
				assert.LessOrEqual(t, time.Since(start), ideal+time.Duration(float64(tc.burst)/tc.rate*float64(time.Second)))
			})
		})
	}
}

// Without client pacing the server refuses, and the retries absorb every refusal.
func TestQueryLimitRefusalsNeverReachTheCaller(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(400, 10))
	t.Cleanup(srv.Close)
	c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()),
		bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(50, time.Millisecond, 20*time.Millisecond))
	require.NoError(t, err)

	// Refusals of the bucket depend on the machine's speed; ten injected ones do not.
	srv.InjectFault("userfieldtype.add", 10, bitrix24test.FaultError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"))
	errs := hammer(32, 300, func(i int) error {
		return c.UserFieldType.Add(context.Background(), bitrix24.UserFieldType{
			UserTypeID: fmt.Sprintf("t%d", i), Handler: fmt.Sprintf("https://app.example.com/uf/%d", i), Title: "T"})
	})
	require.Empty(t, errs)
	refused := srv.RequestLog().ForMethod("userfieldtype.add").WithErrorCode("QUERY_LIMIT_EXCEEDED")
	assert.GreaterOrEqual(t, len(refused), 10, "the server did refuse")
	types, err := c.UserFieldType.List(context.Background())
	require.NoError(t, err)
	assert.Len(t, types, 300, "a refused add is retried and runs exactly once")
}

func TestCancelEndsLimiterWaitAtOnce(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil, bitrix24.WithRateLimit(0.001, 1))
	require.NoError(t, c.Call(context.Background(), "server.time", nil, nil), "the burst")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Call(ctx, "server.time", nil, nil) }()
	time.Sleep(20 * time.Millisecond) // let it block in the limiter (the next slot is 1000 s away)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end with its context")
	}
	assert.Equal(t, 1, srv.Requests("server.time"))

	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	require.ErrorIs(t, c.Call(short, "server.time", nil, nil), context.DeadlineExceeded)
}

func TestCancelEndsRetryBackoff(t *testing.T) {
	t.Parallel()
	// The logger sees each finished attempt: cancel as soon as the first refusal is in,
	// while the client sleeps its hour of backoff.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(cancelOnRecord{cancel: cancel})
	c, srv := newPortal(t, nil, bitrix24.WithRetry(5, time.Hour, time.Hour), bitrix24.WithLogger(logger))
	srv.InjectFault("server.time", 10, bitrix24test.FaultError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"))
	done := make(chan error, 1)
	go func() { done <- c.Call(ctx, "server.time", nil, nil) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, bitrix24.ErrQueryLimitExceeded, "the last answer is kept in the error")
	case <-time.After(30 * time.Second):
		t.Fatal("the backoff did not end with its context")
	}
	assert.Equal(t, 1, srv.Requests("server.time"))
}

// cancelOnRecord is a slog handler that cancels a context at the first record.
type cancelOnRecord struct{ cancel context.CancelFunc }

func (h cancelOnRecord) Enabled(context.Context, slog.Level) bool { return true }
func (h cancelOnRecord) Handle(context.Context, slog.Record) error {
	h.cancel()
	return nil
}
func (h cancelOnRecord) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h cancelOnRecord) WithGroup(string) slog.Handler      { return h }

func TestConcurrentMixedCallsOnOneClient(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, []bitrix24test.Option{bitrix24test.WithRateLimit(2000, 200)}, bitrix24.WithRateLimit(2000, 200))
	ctx := context.Background()
	errs := hammer(128, 600, func(i int) error {
		switch i % 4 {
		case 0:
			return c.UserOption.Set(ctx, map[string]any{fmt.Sprintf("g%d", i): i})
		case 1:
			_, err := c.UserOption.GetAll(ctx)
			return err
		case 2:
			err := c.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: fmt.Sprintf("c%d", i), Handler: fmt.Sprintf("https://app.example.com/x/%d", i), Title: "x"})
			if err != nil {
				return err
			}
			_, err = c.UserFieldType.List(ctx)
			return err
		default:
			cmd, _ := c.UserOption.SetCommand("a", map[string]any{"batch": fmt.Sprint(i)})
			_, err := c.Batch(ctx, false, cmd)
			return err
		}
	})
	require.Empty(t, errs)
	assert.Equal(t, 0, srv.QueryLimitRefusals())
}

func TestResponseSizeCap(t *testing.T) {
	t.Parallel()
	c, _ := newPortal(t, nil, bitrix24.WithMaxResponseSize(512))
	require.NoError(t, c.UserOption.Set(context.Background(), map[string]any{"big": strings.Repeat("x", 2048)}))
	_, err := c.UserOption.GetAll(context.Background())
	require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse)
	assert.Contains(t, err.Error(), "exceeds 512 bytes")
}

func TestHostileAnswersFromThePortal(t *testing.T) {
	t.Parallel()
	for name, fault := range map[string]bitrix24test.Fault{
		"html":      bitrix24test.FaultHTML(502),
		"truncated": bitrix24test.FaultTruncatedJSON(),
	} {
		c, srv := newPortal(t, nil, bitrix24.WithRetry(0, 0, 0))
		srv.InjectFault("userfieldtype.add", 1, fault)
		err := c.UserFieldType.Add(context.Background(), bitrix24.UserFieldType{UserTypeID: "x", Handler: "https://a.example/", Title: "x"})
		require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse, name)
	}
	c, srv := newPortal(t, nil)
	srv.InjectFault("userfieldtype.list", 2, bitrix24test.FaultHTML(502))
	_, err := c.UserFieldType.List(context.Background())
	require.NoError(t, err, "a read is retried past two HTML 502s")
	assert.Equal(t, 3, srv.Requests("userfieldtype.list"))

	srv.InjectFault("userfieldtype.add", 1, bitrix24test.FaultDrop())
	err = c.UserFieldType.Add(context.Background(), bitrix24.UserFieldType{UserTypeID: "y", Handler: "https://a.example/", Title: "y"})
	require.Error(t, err)
	assert.Equal(t, 1, srv.Requests("userfieldtype.add"), "an add that may have run is not repeated")
}

// A redirect to another host never carries the webhook code or a token there.
func TestRedirectsNeverLeaveTheHost(t *testing.T) {
	t.Parallel()
	var leaked atomic.Int32
	elsewhere := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Add(1)
		w.WriteHeader(200)
	}))
	t.Cleanup(elsewhere.Close)
	portal := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(portal.Close)
	hc := portal.Client()
	hc.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(elsewhere.Certificate())

	hook, err := bitrix24.NewWebhookClient(portal.URL+"/rest/1/"+testCode+"/", bitrix24.WithHTTPClient(hc), bitrix24.WithRetry(0, 0, 0))
	require.NoError(t, err)
	err = hook.Call(context.Background(), "server.time", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse)
	requireNoSecret(t, err.Error())

	cfg := testOAuthConfig()
	cfg.PortalURL = portal.URL
	oc, err := bitrix24.NewOAuthClient(cfg, bitrix24.WithHTTPClient(hc), bitrix24.WithRetry(0, 0, 0))
	require.NoError(t, err)
	require.ErrorIs(t, oc.Call(context.Background(), "server.time", nil, nil), bitrix24.ErrUnexpectedResponse)
	assert.Zero(t, leaked.Load(), "nothing reached the other host")
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// One test drives every failure path with debug logging and asserts that no secret
// reaches an error string or a log line.
func TestNoSecretOnAnyFailurePath(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0))
	t.Cleanup(srv.Close)
	cfg := srv.OAuthConfig()
	webhookURL := srv.WebhookURL()
	parts := strings.Split(strings.TrimSuffix(webhookURL, "/"), "/")
	secrets := []string{parts[len(parts)-1], cfg.ClientSecret, cfg.Token.AccessToken, cfg.Token.RefreshToken}

	opts := []bitrix24.Option{bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithLogger(logger),
		bitrix24.WithRetry(0, 0, 0)}
	oc, err := bitrix24.NewOAuthClient(cfg, opts...)
	require.NoError(t, err)
	wc, err := bitrix24.NewWebhookClient(webhookURL, opts...)
	require.NoError(t, err)
	// Twins with a short per-attempt timeout, for the timeout path only: the others keep
	// the default so that a loaded machine does not turn their answers into timeouts.
	short := append(opts[:len(opts):len(opts)], bitrix24.WithTimeout(200*time.Millisecond))
	ocShort, err := bitrix24.NewOAuthClient(cfg, short...)
	require.NoError(t, err)
	wcShort, err := bitrix24.NewWebhookClient(webhookURL, short...)
	require.NoError(t, err)
	ctx := context.Background()

	var errs []error
	check := func(path string, err error) {
		t.Helper()
		require.Error(t, err, path)
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	for _, pair := range [][2]*bitrix24.Client{{oc, ocShort}, {wc, wcShort}} {
		c, c200ms := pair[0], pair[1]
		check("api error", c.Call(ctx, "no.such.method", nil, nil))
		srv.InjectFault("server.time", 1, bitrix24test.FaultHTML(502))
		check("html 502", c.Call(ctx, "server.time", nil, nil))
		srv.InjectFault("server.time", 1, bitrix24test.FaultTruncatedJSON())
		check("truncated json", c.Call(ctx, "server.time", nil, nil))
		srv.InjectFault("server.time", 1, bitrix24test.FaultDrop())
		check("dropped connection", c.Call(ctx, "server.time", nil, nil))
		srv.InjectFault("server.time", 1, bitrix24test.FaultDelay(2*time.Second))
		check("timeout", c200ms.Call(ctx, "server.time", nil, nil))
		// On a loaded machine the 200 ms client may give up before its request reaches
		// the fake, leaving the delay queued for the next call: start clean.
		srv.ClearFaults()
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		check("cancelled ctx", c.Call(cancelled, "server.time", nil, nil))
	}
	check("webhook-only refusal", wc.UserOption.Set(ctx, map[string]any{"a": 1}))
	// Refresh failures: a spent refresh token, then a wrong client secret.
	srv.ExpireAccessToken()
	other, err := bitrix24.NewOAuthClient(cfg, opts...)
	require.NoError(t, err)
	require.NoError(t, oc.Call(ctx, "server.time", nil, nil), "refresh and replay")
	secrets = append(secrets, srv.Token().AccessToken, srv.Token().RefreshToken)
	srv.ExpireAccessToken()
	check("refresh with a spent token", other.Call(ctx, "server.time", nil, nil))
	wrong := cfg
	wrong.ClientSecret = "wrongSecretValue01"
	secrets = append(secrets, wrong.ClientSecret)
	wrongClient, err := bitrix24.NewOAuthClient(wrong, opts...)
	require.NoError(t, err)
	check("refresh with a wrong secret", wrongClient.Call(ctx, "server.time", nil, nil))
	// A closed server last: connection refused.
	srv.Close()
	check("closed server", oc.Call(ctx, "server.time", nil, nil))
	check("closed server (webhook)", wc.Call(ctx, "server.time", nil, nil))

	require.NotEmpty(t, logs.String(), "debug logging was on")
	for _, err := range errs {
		for _, s := range secrets {
			require.NotContains(t, err.Error(), s)
			require.NotContains(t, fmt.Sprintf("%+v", err), s)
		}
	}
	for _, s := range secrets {
		require.NotContains(t, logs.String(), s)
	}
	for _, v := range []any{oc, wc, cfg, oc.Token()} {
		for _, s := range secrets {
			require.NotContains(t, fmt.Sprintf("%v %+v %#v", v, v, v), s)
		}
	}
	var apiErr *bitrix24.APIError
	require.True(t, errors.As(errs[0], &apiErr))
}
