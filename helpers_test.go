package bitrix24_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// Secrets of the unit tests: every failure-path test asserts none of them leaks.
const (
	testPortal     = "https://portal.example.test"
	testCode       = "s3cr3tc0de4x9q"
	testWebhook    = testPortal + "/rest/1/" + testCode + "/"
	testAccess     = "acc3ss7oken0001"
	testRefresh    = "r3fresh7oken0001"
	testSecret     = "cl1entS3cretXYZ"
	testTokenURL   = "https://oauth.example.test/oauth/token/"
	testNewAccess  = "n3wAcc3ssTok0002"
	testNewRefresh = "n3wR3freshTok0002"
)

var allSecrets = []string{testCode, testAccess, testRefresh, testSecret, testNewAccess, testNewRefresh}

// newMock returns a per-test transport (so tests run in parallel) that fails the test on
// any request nobody registered.
func newMock(t *testing.T) *httpmock.MockTransport {
	t.Helper()
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(func(req *http.Request) (*http.Response, error) {
		t.Errorf("unexpected request: %s %s", req.Method, req.URL.Path)
		return httpmock.NewStringResponse(599, "unexpected"), nil
	})
	return mt
}

// fastOptions routes through mt, with millisecond backoff and no client-side pacing.
func fastOptions(mt http.RoundTripper, extra ...bitrix24.Option) []bitrix24.Option {
	return append([]bitrix24.Option{
		bitrix24.WithHTTPClient(&http.Client{Transport: mt}),
		bitrix24.WithRetry(3, time.Millisecond, 2*time.Millisecond),
		bitrix24.WithRateLimit(0, 0),
	}, extra...)
}

func newWebhookClient(t *testing.T, extra ...bitrix24.Option) (*bitrix24.Client, *httpmock.MockTransport) {
	t.Helper()
	mt := newMock(t)
	c, err := bitrix24.NewWebhookClient(testWebhook, fastOptions(mt, extra...)...)
	require.NoError(t, err)
	return c, mt
}

func testOAuthConfig() bitrix24.OAuthConfig {
	return bitrix24.OAuthConfig{
		PortalURL:    testPortal,
		ClientID:     "local.5f2a.client",
		ClientSecret: testSecret,
		Token:        bitrix24.Token{AccessToken: testAccess, RefreshToken: testRefresh},
		TokenURL:     testTokenURL,
	}
}

func newOAuthClient(t *testing.T, cfg bitrix24.OAuthConfig, extra ...bitrix24.Option) (*bitrix24.Client, *httpmock.MockTransport) {
	t.Helper()
	mt := newMock(t)
	c, err := bitrix24.NewOAuthClient(cfg, fastOptions(mt, extra...)...)
	require.NoError(t, err)
	return c, mt
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(data)
}

// jsonResponder answers like the portal: the body with its JSON content type.
func jsonResponder(status int, body string) httpmock.Responder {
	return func(*http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(status, body)
		resp.Header.Set("Content-Type", "application/json; charset=utf-8")
		return resp, nil
	}
}

// recorder keeps the requests a responder saw.
type recorder struct {
	mu     sync.Mutex
	bodies []map[string]any
	raw    []string
}

func (r *recorder) wrap(t *testing.T, next httpmock.Responder) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		data, err := io.ReadAll(req.Body)
		require.NoError(t, err)
		var m map[string]any
		_ = json.Unmarshal(data, &m)
		r.mu.Lock()
		r.bodies = append(r.bodies, m)
		r.raw = append(r.raw, string(data))
		r.mu.Unlock()
		return next(req)
	}
}

func (r *recorder) body(i int) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[i]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

// requireNoSecret fails if s holds any of the test secrets.
func requireNoSecret(t *testing.T, s string) {
	t.Helper()
	for _, secret := range allSecrets {
		require.NotContains(t, s, secret)
	}
	require.False(t, strings.Contains(s, "s3cr3t"), "secret fragment in %q", s)
}

// jsonDecode decodes a request's JSON body.
func jsonDecode(req *http.Request, v any) error {
	data, err := io.ReadAll(req.Body)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
