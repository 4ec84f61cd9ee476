package bitrix24test

import (
	"fmt"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
)

// The Enterprise plan's leaky bucket, the default of [New].
const (
	EnterpriseRateLimit = 5.0
	EnterpriseBurst     = 250
)

// Waits of the clients made by NewClient and NewWebhookClient: a retry after a
// refusal or a fault costs milliseconds, not seconds.
const (
	testRetries    = 3
	testMinBackoff = time.Millisecond
	testMaxBackoff = 10 * time.Millisecond
)

// New starts a fake portal for the test tb and closes it when the test ends. It is
// [NewServer] with one difference in the defaults: the leaky bucket is the Enterprise
// plan's (5/s, burst 250), so that the calls of a test are not paced; pass
// [WithRateLimit] to test pacing. Options are applied in order.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := NewServer(append([]Option{WithRateLimit(EnterpriseRateLimit, EnterpriseBurst)}, opts...)...)
	s.tb = tb
	tb.Cleanup(s.Close)
	return s
}

// NewClient returns an OAuth client of the installed application for user 1 (see
// [Server.OAuthConfig]), wired to the server: its TLS client ([Server.Client]), retries
// with waits of milliseconds, and pacing matched to the server's leaky bucket (none when
// the bucket is off). opts come last, so they override these.
//
// A bad option fails the test of a server made by [New]; otherwise NewClient panics,
// like httptest.NewServer when it cannot listen.
func (s *Server) NewClient(opts ...bitrix24.Option) *bitrix24.Client {
	c, err := bitrix24.NewOAuthClient(s.OAuthConfig(), s.clientOptions(opts)...)
	return s.must("NewClient", c, err)
}

// NewWebhookClient is [Server.NewClient] for the inbound webhook of user 1
// ([Server.WebhookURL]).
func (s *Server) NewWebhookClient(opts ...bitrix24.Option) *bitrix24.Client {
	c, err := bitrix24.NewWebhookClient(s.WebhookURL(), s.clientOptions(opts)...)
	return s.must("NewWebhookClient", c, err)
}

// App is the installed application as a [bitrix24.App] wired to the fake: its token
// endpoint, its authorization server (app.info) and the test defaults of NewClient, with
// opts after them. Store is left nil (an in-memory store of the App); set it to share one.
func (s *Server) App(opts ...bitrix24.Option) *bitrix24.App {
	cfg := s.OAuthConfig()
	return &bitrix24.App{
		ClientID:       cfg.ClientID,
		ClientSecret:   cfg.ClientSecret,
		TokenURL:       s.TokenURL(),
		ServerEndpoint: s.ServerEndpoint(),
		Options:        s.clientOptions(opts),
	}
}

func (s *Server) clientOptions(opts []bitrix24.Option) []bitrix24.Option {
	base := []bitrix24.Option{
		bitrix24.WithHTTPClient(s.Client()),
		bitrix24.WithRetry(testRetries, testMinBackoff, testMaxBackoff),
		bitrix24.WithRateLimit(0, 0),
	}
	if s.cfg.rate > 0 {
		base[2] = bitrix24.WithRateLimit(s.cfg.rate, s.cfg.burst)
	}
	if s.cfg.plainHTTP {
		base = append(base, bitrix24.WithAllowHTTP())
	}
	return append(base, opts...)
}

func (s *Server) must(fn string, c *bitrix24.Client, err error) *bitrix24.Client {
	if err == nil {
		return c
	}
	if s.tb != nil {
		s.tb.Helper()
		s.tb.Fatalf("bitrix24test: %s: %v", fn, err)
		return nil
	}
	panic(fmt.Sprintf("bitrix24test: %s: %v", fn, err))
}
