package bitrix24_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// newAppPortal starts a fake portal (no rate limit) and an App for its installed
// application, talking to the fake's token endpoint and authorization server.
func newAppPortal(t *testing.T, srvOpts ...bitrix24test.Option) (*bitrix24.App, *bitrix24test.Server) {
	t.Helper()
	srv := bitrix24test.NewServer(append([]bitrix24test.Option{bitrix24test.WithRateLimit(0, 0)}, srvOpts...)...)
	t.Cleanup(srv.Close)
	app := srv.App(bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(2, time.Millisecond, 2*time.Millisecond))
	app.Store = bitrix24.NewMemoryTokenStore()
	return app, srv
}

// assertNoSecret fails when text holds any of the secrets.
func assertNoSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" {
			require.NotContains(t, text, s, "a secret leaked")
		}
	}
}

// formRequest is a POST with a urlencoded body to target (a path and query).
func formRequest(t *testing.T, target, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://app.example.test"+target, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}
