package bitrix24_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// requireNoFragment fails if text holds any 8-byte piece of secret: a secret cut in two
// must not show its head either.
func requireNoFragment(t *testing.T, text, secret string) {
	t.Helper()
	for i := 0; i+8 <= len(secret); i++ {
		require.NotContains(t, text, secret[i:i+8], "a fragment of a secret leaked")
	}
}

// chainTexts is every message along err's chain, as errors.As would reach them, plus
// its %v and %+v forms.
func chainTexts(err error) []string {
	out := []string{fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	var walk func(error)
	walk = func(e error) {
		for e != nil {
			out = append(out, e.Error())
			if multi, ok := e.(interface{ Unwrap() []error }); ok {
				for _, inner := range multi.Unwrap() {
					walk(inner)
				}
				return
			}
			e = errors.Unwrap(e)
		}
	}
	walk(err)
	return out
}

func requireCleanChain(t *testing.T, err error, secrets ...string) {
	t.Helper()
	require.Error(t, err)
	for _, text := range chainTexts(err) {
		for _, s := range secrets {
			requireNoFragment(t, text, s)
		}
	}
}

// Item 1: a 500 page that echoes the token across the 256-byte snippet limit.
func TestSnippetCutAfterRedaction(t *testing.T) {
	t.Parallel()
	const token = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6" // 32 characters
	for _, offset := range []int{225, 240, 250, 255, 256, 257} {
		// The token starts at byte offset: the cut at 256 falls inside it, or just after.
		prefix := "<html><body><pre>Array\n(\n    [auth] => "
		page := strings.Repeat("x", offset-len(prefix)) + prefix + token + "\n)\n</pre></body></html>"
		var logs syncBuffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg := testOAuthConfig()
		cfg.Token.AccessToken = token
		c, mt := newOAuthClient(t, cfg, bitrix24.WithRetry(0, 0, 0), bitrix24.WithLogger(logger))
		mt.RegisterResponder(http.MethodPost, testPortal+"/rest/crm.item.add", httpmock.NewStringResponder(500, page))
		err := c.Call(context.Background(), "crm.item.add", nil, nil)
		require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse)
		requireCleanChain(t, err, token)
		requireNoFragment(t, logs.String(), token)
	}
}

// Item 2: Code and Argument are scrubbed as well as Description, on the REST answer,
// the token endpoint and a batch's result_error.
func TestAPIErrorFieldsScrubbed(t *testing.T) {
	t.Parallel()
	echo := fmt.Sprintf(`{"error":"BAD_%s","error_description":"token %s","argument":"auth=%s"}`, testAccess, testAccess, testAccess)
	c, mt := newOAuthClient(t, testOAuthConfig(), bitrix24.WithRetry(0, 0, 0))
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/crm.item.add", jsonResponder(400, echo))
	err := c.Call(context.Background(), "crm.item.add", nil, nil)
	var apiErr *bitrix24.APIError
	require.ErrorAs(t, err, &apiErr)
	for _, field := range []string{apiErr.Code, apiErr.Description, apiErr.Argument} {
		requireNoFragment(t, field, testAccess)
	}
	requireCleanChain(t, err, testAccess)

	// The token endpoint, echoing the refresh token and the client secret.
	cfg := testOAuthConfig()
	c, mt = newOAuthClient(t, cfg, bitrix24.WithRetry(0, 0, 0))
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time",
		jsonResponder(401, `{"error":"expired_token","error_description":"The access token provided has expired."}`))
	mt.RegisterResponder(http.MethodPost, testTokenURL, jsonResponder(400, fmt.Sprintf(
		`{"error":"E_%s","error_description":"%s","argument":"%s"}`, testRefresh, testSecret, testRefresh)))
	err = c.Call(context.Background(), "server.time", nil, nil)
	require.ErrorAs(t, err, &apiErr)
	for _, field := range []string{apiErr.Code, apiErr.Description, apiErr.Argument} {
		requireNoFragment(t, field, testRefresh)
		requireNoFragment(t, field, testSecret)
	}
	requireCleanChain(t, err, testRefresh, testSecret)

	// A batch's result_error.
	c, mt = newOAuthClient(t, testOAuthConfig())
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/batch", jsonResponder(200, fmt.Sprintf(
		`{"result":{"result":[],"result_error":{"a":{"error":"X_%s","error_description":"d %s","argument":"%s"}}}}`,
		testAccess, testAccess, testAccess)))
	res, err := c.Batch(context.Background(), false, bitrix24.BatchCommand{Key: "a", Method: "crm.item.add"})
	require.NoError(t, err)
	e := res.Errors["a"]
	require.NotNil(t, e)
	for _, field := range []string{e.Code, e.Description, e.Argument, e.Error()} {
		requireNoFragment(t, field, testAccess)
	}
}

// Item 3: a peer that echoes the request line puts the webhook code into a
// *url.Error's inner error ("malformed HTTP status code"). Every error of the chain must
// be clean.
func TestEchoedRequestLineLeavesNoCodeInChain(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil {
					return
				}
				fields := strings.Fields(line) // POST /rest/1/<code>/server.time HTTP/1.1
				if len(fields) > 1 {
					fmt.Fprintf(conn, "HTTP/1.1 %s OK\r\nContent-Length: 0\r\n\r\n", fields[1])
				}
			}()
		}
	}()
	webhook := "http://" + ln.Addr().String() + "/rest/1/" + testCode + "/"
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := bitrix24.NewWebhookClient(webhook, bitrix24.WithAllowHTTP(), bitrix24.WithRetry(0, 0, 0),
		bitrix24.WithRateLimit(0, 0), bitrix24.WithLogger(logger))
	require.NoError(t, err)
	err = c.Call(context.Background(), "server.time", nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "malformed HTTP status code", "the test reaches the echo path")
	requireCleanChain(t, err, testCode)
	requireNoFragment(t, logs.String(), testCode)
}

// Item 4: the client secret stays in the redaction set however many pairs rotate
// through it (the set keeps only the newest 512 rotating entries: 600 refreshes add 1,200).
func TestClientSecretSurvivesManyRefreshes(t *testing.T) {
	t.Parallel()
	c, mt := newOAuthClient(t, testOAuthConfig(), bitrix24.WithRetry(0, 0, 0))
	var n atomic.Int64
	mt.RegisterResponder(http.MethodPost, testTokenURL, func(*http.Request) (*http.Response, error) {
		i := n.Add(1)
		return jsonResponder(200, fmt.Sprintf(`{"access_token":"acc%012d","refresh_token":"ref%012d","expires_in":3600}`, i, i))(nil)
	})
	var secretEcho atomic.Bool
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time", func(req *http.Request) (*http.Response, error) {
		if secretEcho.Load() {
			return jsonResponder(400, `{"error":"ERROR_CORE","error_description":"client_secret=`+testSecret+` rejected"}`)(req)
		}
		return jsonResponder(401, `{"error":"expired_token","error_description":"expired"}`)(req)
	})
	ctx := context.Background()
	for range 600 {
		// Each call: expired_token, one refresh, the replay answers expired_token again.
		require.ErrorIs(t, c.Call(ctx, "server.time", nil, nil), bitrix24.ErrExpiredToken)
	}
	require.GreaterOrEqual(t, n.Load(), int64(600))
	secretEcho.Store(true)
	err := c.Call(ctx, "server.time", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrCore)
	requireCleanChain(t, err, testSecret)
}

// Item 5: an error of OnTokenRefresh that quotes the new refresh token is scrubbed.
func TestOnTokenRefreshErrorScrubbed(t *testing.T) {
	t.Parallel()
	cfg := testOAuthConfig()
	cfg.OnTokenRefresh = func(_ context.Context, tok bitrix24.Token) error {
		return fmt.Errorf("pq: duplicate key value violates unique constraint \"tokens_refresh_key\": Key (refresh)=(%s)", tok.RefreshToken)
	}
	c, mt := newOAuthClient(t, cfg, bitrix24.WithRetry(0, 0, 0))
	registerRefresh(mt)
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time", expiredOnce())
	err := c.Call(context.Background(), "server.time", nil, nil)
	require.ErrorContains(t, err, "OnTokenRefresh")
	requireCleanChain(t, err, testNewRefresh, testNewAccess)
	assert.Equal(t, testNewAccess, c.Token().AccessToken, "the new pair is kept")
}

// registerRefresh makes the token endpoint hand out the test's new pair.
func registerRefresh(mt *httpmock.MockTransport) *atomic.Int64 {
	var n atomic.Int64
	mt.RegisterResponder(http.MethodPost, testTokenURL, func(req *http.Request) (*http.Response, error) {
		n.Add(1)
		return jsonResponder(200, `{"access_token":"`+testNewAccess+`","refresh_token":"`+testNewRefresh+`","expires_in":3600}`)(req)
	})
	return &n
}

// expiredOnce answers expired_token to the old access token and success to the new.
func expiredOnce() httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		body := new(strings.Builder)
		if req.Body != nil {
			buf := make([]byte, 4096)
			for {
				n, err := req.Body.Read(buf)
				body.Write(buf[:n])
				if err != nil {
					break
				}
			}
		}
		if strings.Contains(body.String(), testNewAccess) {
			return jsonResponder(200, `{"result":"2026-12-01T00:00:00+00:00"}`)(req)
		}
		return jsonResponder(401, `{"error":"expired_token","error_description":"The access token provided has expired."}`)(req)
	}
}
