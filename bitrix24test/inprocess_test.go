package bitrix24test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInProcessClientServesWithoutNetwork(t *testing.T) {
	s := newSrv(t)
	hc := s.InProcessClient()

	// Over "TLS": the webhook works (it requires https).
	resp, err := hc.Post(s.WebhookURL()+"server.time", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"result"`)

	// Another host is not this server.
	_, err = hc.Get("https://example.com/rest/server.time")
	require.ErrorContains(t, err, "is not this server")

	// A done context sends nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.WebhookURL()+"server.time", nil)
	_, err = hc.Do(req)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, s.Requests("server.time"))
}

// Inside a bubble the fake's clock is the bubble's: the leaky bucket refills as fake
// time passes.
func TestInProcessClientInSyncTestBubble(t *testing.T) {
	s := newSrv(t, WithRateLimit(1, 1))
	hc := s.InProcessClient()
	url := s.WebhookURL() + "server.time"
	status := func(t *testing.T) int {
		resp, err := hc.Post(url, "application/json", strings.NewReader("{}"))
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	synctest.Test(t, func(t *testing.T) {
		assert.Equal(t, http.StatusOK, status(t))
		assert.Equal(t, http.StatusServiceUnavailable, status(t), "the bucket is full")
		time.Sleep(time.Second)
		assert.Equal(t, http.StatusOK, status(t), "one second later it has drained")
	})
	assert.Equal(t, 1, s.QueryLimitRefusals())
}
