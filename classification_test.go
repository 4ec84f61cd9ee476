package bitrix24_test

// Regression tests of issue 10, "classification and docs": what an answer matches, how
// many redirects are followed, and which unreadable answers are retried.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// Issue 10 item 22: the token endpoint's OAuth invalid_request (a malformed grant) is not
// the REST INVALID_REQUEST of a webhook over plain HTTP.
func TestOAuthInvalidRequestIsNotHTTPSRequired(t *testing.T) {
	t.Parallel()
	var refreshes atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/token/", func(w http.ResponseWriter, r *http.Request) {
		refreshes.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"Invalid request"}`))
	})
	mux.HandleFunc("/rest/server.time", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"expired_token","error_description":"The access token provided has expired."}`))
	})
	mux.HandleFunc("/rest/1/"+testCode+"/server.time", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"error":"INVALID_REQUEST","error_description":"Https required."}`))
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)

	cfg := testOAuthConfig()
	cfg.PortalURL = srv.URL
	cfg.TokenURL = srv.URL + "/oauth/token/"
	c, err := bitrix24.NewOAuthClient(cfg, bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithRetry(0, 0, 0))
	require.NoError(t, err)
	err = c.Call(context.Background(), "server.time", nil, nil)
	require.Error(t, err)
	assert.Equal(t, int32(1), refreshes.Load())
	var apiErr *bitrix24.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, "oauth/token", apiErr.Method)
	assert.Equal(t, "invalid_request", apiErr.Code)
	assert.NotErrorIs(t, err, bitrix24.ErrHTTPSRequired)
	assert.False(t, apiErr.Is(bitrix24.ErrHTTPSRequired))
	requireNoSecret(t, err.Error())

	// The REST answer still means https is required.
	hook, err := bitrix24.NewWebhookClient(srv.URL+"/rest/1/"+testCode+"/", bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithRetry(0, 0, 0))
	require.NoError(t, err)
	err = hook.Call(context.Background(), "server.time", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrHTTPSRequired)
	requireNoSecret(t, err.Error())
}

// Issue 10 item 23: three same-host redirects are followed, as the README says; a fourth
// is not.
func TestThreeSameHostRedirectsAreFollowed(t *testing.T) {
	t.Parallel()
	for _, hops := range []int{1, 3, 4} {
		var requests atomic.Int32
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			n, _ := strconv.Atoi(r.URL.Query().Get("hop"))
			if n < hops {
				http.Redirect(w, r, r.URL.Path+"?hop="+strconv.Itoa(n+1), http.StatusTemporaryRedirect)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"result":"2026-01-01T00:00:00+00:00"}`))
		}))
		hook, err := bitrix24.NewWebhookClient(srv.URL+"/rest/1/"+testCode+"/",
			bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithRetry(0, 0, 0), bitrix24.WithRateLimit(0, 0))
		require.NoError(t, err)
		var now string
		err = hook.Call(context.Background(), "server.time", nil, &now)
		if hops <= 3 {
			require.NoError(t, err, "%d redirects", hops)
			assert.Equal(t, "2026-01-01T00:00:00+00:00", now)
			assert.Equal(t, int32(hops+1), requests.Load())
		} else {
			require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse, "%d redirects", hops)
			assert.Equal(t, int32(4), requests.Load(), "the request and 3 redirects; the 4th is not followed")
			requireNoSecret(t, err.Error())
		}
		srv.Close()
	}
}

// Issue 10 item 24: an unreadable 200 (truncated JSON, an HTML page) is retried for a call
// that is safe to repeat, like a 502; never for one that may have run.
func TestUnreadable200IsRetriedOnlyWhenSafe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, fault := range map[string]bitrix24test.Fault{
		"truncated JSON": bitrix24test.FaultTruncatedJSON(),
		"HTML 200":       bitrix24test.FaultHTML(http.StatusOK),
	} {
		c, srv := newPortal(t, nil)
		require.NoError(t, c.UserOption.Set(ctx, map[string]any{"theme": "dark"}))

		srv.InjectFault("user.option.get", 1, fault)
		var theme string
		found, err := c.UserOption.Get(ctx, "theme", &theme)
		require.NoError(t, err, name)
		assert.True(t, found)
		assert.Equal(t, "dark", theme)
		assert.Equal(t, 2, srv.Requests("user.option.get"), name)

		srv.InjectFault("crm.item.add", 1, fault)
		err = c.Call(ctx, "crm.item.add", map[string]any{"entityTypeId": 2}, nil)
		require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse, name)
		assert.Equal(t, 1, srv.Requests("crm.item.add"), "%s: an add that may have run is sent once", name)

		srv.InjectFault("userfieldtype.add", 1, fault)
		err = c.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: "x", Handler: "https://a.example/", Title: "x"})
		require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse, name)
		assert.Equal(t, 1, srv.Requests("userfieldtype.add"), name)

		srv.InjectFault("crm.item.add", 1, fault)
		err = c.Call(ctx, "crm.item.add", nil, nil, bitrix24.WithIdempotent())
		// The fake has crm.item.add (issue 28); without the crm scope its real answer is
		// insufficient_scope.
		require.ErrorIs(t, err, bitrix24.ErrInsufficientScope, "%s: declared idempotent, retried into the real answer", name)
		assert.Equal(t, 3, srv.Requests("crm.item.add"), name)
	}
}
