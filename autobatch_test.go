package bitrix24_test

// Auto-batching against bitrix24test over HTTPS on loopback. Timing is not asserted
// here (see autobatch_internal_test.go for that, under testing/synctest): tests that need
// one batch of known content send exactly 50 calls with the longest hold, so the batch
// goes out because it is full, whenever the goroutines get to run.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// fullBatch is how many concurrent calls make one batch go out at once.
const fullBatch = bitrix24.MaxBatchCommands

// newBatchingPortal is newPortal with WithAutoBatch(maxWait) on, and a plain client of
// the same application to compare against.
func newBatchingPortal(t *testing.T, maxWait time.Duration, opts ...bitrix24.Option) (batching, direct *bitrix24.Client, srv *bitrix24test.Server) {
	t.Helper()
	batching, srv = newPortal(t, nil, append([]bitrix24.Option{bitrix24.WithAutoBatch(maxWait)}, opts...)...)
	direct, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()),
		bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(3, 0, 0))
	require.NoError(t, err)
	return batching, direct, srv
}

// concurrently runs fn(0..n-1) in n goroutines, under a generous deadline that only a
// hang reaches, and returns their errors by index.
func concurrently(t *testing.T, n int, fn func(ctx context.Context, i int) error) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(ctx, i)
		}()
	}
	wg.Wait()
	return errs
}

func TestAutoBatchGivesEachCallerItsOwnAnswer(t *testing.T) {
	t.Parallel()
	c, direct, srv := newBatchingPortal(t, bitrix24.MaxAutoBatchWait)
	ctx := context.Background()
	require.NoError(t, direct.UserOption.Set(ctx, map[string]any{"preset": "p", "nested": map[string]any{"a": []any{"x", "y"}}}))
	require.NoError(t, direct.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: "autobatch", Handler: "https://app.example/h", Title: "T"}))
	var wantList json.RawMessage
	var wantResp bitrix24.Response
	require.NoError(t, direct.Call(ctx, "userfieldtype.list", nil, &wantList, bitrix24.WithResponse(&wantResp)))
	wantErr := direct.Call(ctx, "nosuch.thing.get", map[string]string{"id": "1"}, nil)
	require.Error(t, wantErr)
	before := srv.Requests("")

	// 50 calls of five kinds, in one batch.
	type outcome struct {
		str  string
		raw  json.RawMessage
		resp bitrix24.Response
	}
	got := make([]outcome, fullBatch)
	errs := concurrently(t, fullBatch, func(ctx context.Context, i int) error {
		switch i % 5 {
		case 0, 1:
			return c.UserOption.Set(ctx, map[string]any{"k" + strconv.Itoa(i): "v" + strconv.Itoa(i)})
		case 2:
			found, err := c.UserOption.Get(ctx, "preset", &got[i].str)
			if err == nil && !found {
				err = errors.New("preset not found")
			}
			return err
		case 3:
			return c.Call(ctx, "userfieldtype.list", nil, &got[i].raw, bitrix24.WithResponse(&got[i].resp))
		default:
			return c.Call(ctx, "nosuch.thing.get", map[string]string{"id": "1"}, nil)
		}
	})

	assert.Equal(t, 1, srv.Requests("")-before, "one request for all 50 calls")
	assert.Equal(t, 1, srv.Requests("batch")) // the setup sent none
	assert.Equal(t, bitrix24.AutoBatchStats{Calls: fullBatch, Batches: 1}, c.AutoBatchStats())
	stored := srv.UserOptions(srv.OAuthConfig().ClientID, 1)
	for i, err := range errs {
		switch i % 5 {
		case 0, 1:
			require.NoError(t, err, i)
			assert.Equal(t, "v"+strconv.Itoa(i), stored["k"+strconv.Itoa(i)], "stored as the string it was")
		case 2:
			require.NoError(t, err, i)
			assert.Equal(t, "p", got[i].str)
		case 3:
			require.NoError(t, err, i)
			assert.JSONEq(t, string(wantList), string(got[i].raw))
			assert.Equal(t, wantResp.Total, got[i].resp.Total)
			assert.Equal(t, wantResp.HasNext, got[i].resp.HasNext)
			assert.Equal(t, 200, got[i].resp.StatusCode)
			assert.False(t, got[i].resp.Time.Start.IsZero(), "the command's own time")
		default:
			var apiErr, want *bitrix24.APIError
			require.ErrorAs(t, err, &apiErr, i)
			require.ErrorAs(t, wantErr, &want)
			assert.ErrorIs(t, err, bitrix24.ErrMethodNotFound)
			assert.Equal(t, "nosuch.thing.get", apiErr.Method)
			assert.Equal(t, want.Code, apiErr.Code)
			assert.Equal(t, want.Description, apiErr.Description)
			assert.Equal(t, 200, apiErr.StatusCode, "an error inside a batch comes with the batch's 200")
		}
	}
}

// TestAutoBatchArgumentErrorAsDirect: a command's error keeps its argument, as a
// direct call's does.
func TestAutoBatchArgumentErrorAsDirect(t *testing.T) {
	t.Parallel()
	c, direct, _ := newBatchingPortal(t, time.Millisecond)
	ctx := context.Background()
	params := map[string]any{"USER_TYPE_ID": "missing"}
	wantErr := direct.Call(ctx, "userfieldtype.update", params, nil)
	var want *bitrix24.APIError
	require.ErrorAs(t, wantErr, &want)
	err := c.Call(ctx, "userfieldtype.update", params, nil)
	var apiErr *bitrix24.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, want.Code, apiErr.Code)
	assert.Equal(t, want.Description, apiErr.Description)
	assert.Equal(t, want.Argument, apiErr.Argument)
	assert.Equal(t, "userfieldtype.update", apiErr.Method)
	assert.Equal(t, bitrix24.AutoBatchStats{Calls: 1, Batches: 1}, c.AutoBatchStats())
}

func TestAutoBatchBypassesWhatDoesNotQualify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		method string
		params any
	}{
		{"number", "user.option.set", map[string]any{"options": map[string]any{"n": 1}}},
		{"bool", "user.option.set", map[string]any{"options": map[string]any{"b": true}}},
		{"nil value", "user.option.set", map[string]any{"options": map[string]any{"z": nil, "s": "x"}}},
		{"empty list", "user.option.set", map[string]any{"options": map[string]any{"l": []string{}, "s": "x"}}},
		{"empty map", "user.option.set", map[string]any{"options": map[string]any{"m": map[string]string{}, "s": "x"}}},
		{"scalar options", "user.option.set", map[string]any{"options": "x"}},
		{"batch reference", "user.option.set", map[string]any{"options": map[string]any{"r": "$result[a][b]"}}},
		{"reference in a key", "user.option.set", map[string]any{"options": map[string]any{"$Result[a]": "x"}}},
		{"auth key", "user.option.get", map[string]any{"option": "x", "auth": "forged"}},
		{"top-level key PHP renames", "user.option.get", map[string]any{"opt.ion": "x"}},
		{"not safe to repeat", "userfieldtype.delete", map[string]any{"USER_TYPE_ID": "nosuch"}},
		{"batch itself", "batch", map[string]any{"cmd": map[string]string{"a": "server.time"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Held calls would wait a minute and run into the test's deadline.
			c, direct, srv := newBatchingPortal(t, bitrix24.MaxAutoBatchWait)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			wantErr := direct.Call(ctx, tc.method, tc.params, nil)
			directRequests := srv.Requests(tc.method)
			batchesBefore := srv.Requests("batch")
			err := c.Call(ctx, tc.method, tc.params, nil)
			if wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.Equal(t, wantErr.Error(), err.Error(), "the same answer as a direct call")
			}
			assert.Equal(t, 2*directRequests, srv.Requests(tc.method), "sent directly")
			if tc.method != "batch" {
				assert.Equal(t, batchesBefore, srv.Requests("batch"))
			}
			assert.Zero(t, c.AutoBatchStats())
		})
	}
}

func TestAutoBatchWithIdempotentQualifies(t *testing.T) {
	t.Parallel()
	c, _, srv := newBatchingPortal(t, time.Millisecond)
	ctx := context.Background()
	params := map[string]any{"USER_TYPE_ID": "marked", "HANDLER": "https://app.example/h", "TITLE": "T"}
	var added bool
	require.NoError(t, c.Call(ctx, "userfieldtype.add", params, &added, bitrix24.WithIdempotent()))
	assert.True(t, added)
	assert.Equal(t, 0, srv.Requests("userfieldtype.add"))
	assert.Equal(t, 1, srv.Requests("batch"))
}

func TestAutoBatchOffByDefault(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	errs := concurrently(t, fullBatch, func(ctx context.Context, i int) error {
		return c.UserOption.Set(ctx, map[string]any{"k" + strconv.Itoa(i): "v"})
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 0, srv.Requests("batch"))
	assert.Equal(t, fullBatch, srv.Requests("user.option.set"))
	assert.Zero(t, c.AutoBatchStats())
}

func TestWithAutoBatchValidates(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{-time.Nanosecond, bitrix24.MaxAutoBatchWait + 1} {
		_, err := bitrix24.NewWebhookClient("https://portal.example/rest/1/code/", bitrix24.WithAutoBatch(d))
		assert.ErrorIs(t, err, bitrix24.ErrValidation, d)
	}
	c, err := bitrix24.NewWebhookClient("https://portal.example/rest/1/code/", bitrix24.WithAutoBatch(0))
	require.NoError(t, err, "0 is off")
	assert.Zero(t, c.AutoBatchStats())
}

func TestAutoBatchCallerLeavesWhileHeld(t *testing.T) {
	t.Parallel()
	c, _, srv := newBatchingPortal(t, bitrix24.MaxAutoBatchWait)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.UserOption.Set(ctx, map[string]any{"gone": "x"}) }()
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)

	// The next full batch holds 50 other commands and not the one that left.
	errs := concurrently(t, fullBatch, func(ctx context.Context, i int) error {
		return c.UserOption.Set(ctx, map[string]any{"k" + strconv.Itoa(i): "v"})
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, srv.Requests("batch"))
	stored := srv.UserOptions(srv.OAuthConfig().ClientID, 1)
	assert.Len(t, stored, fullBatch)
	assert.NotContains(t, stored, "gone")
}

func TestAutoBatchWholeFailureIsRetried(t *testing.T) {
	t.Parallel()
	c, _, srv := newBatchingPortal(t, bitrix24.MaxAutoBatchWait)
	srv.InjectFault("batch", 1, bitrix24test.FaultError(500, "INTERNAL_SERVER_ERROR", "boom"))
	srv.InjectFault("batch", 1, bitrix24test.FaultDrop())
	srv.InjectFault("batch", 1, bitrix24test.FaultError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"))
	errs := concurrently(t, fullBatch, func(ctx context.Context, i int) error {
		return c.UserOption.Set(ctx, map[string]any{"k" + strconv.Itoa(i): "v"})
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 4, srv.Requests("batch"), "three failures, then the batch ran")
	assert.Len(t, srv.UserOptions(srv.OAuthConfig().ClientID, 1), fullBatch)
}

func TestAutoBatchWholeFailureReachesEveryCaller(t *testing.T) {
	t.Parallel()
	c, _, srv := newBatchingPortal(t, bitrix24.MaxAutoBatchWait)
	srv.InjectFault("batch", 4, bitrix24test.FaultError(500, "INTERNAL_SERVER_ERROR", "boom"))
	errs := concurrently(t, fullBatch, func(ctx context.Context, i int) error {
		return c.UserOption.Set(ctx, map[string]any{"k" + strconv.Itoa(i): "v"})
	})
	for _, err := range errs {
		require.ErrorIs(t, err, bitrix24.ErrInternal)
		assert.Contains(t, err.Error(), "user.option.set")
	}
	assert.Equal(t, 4, srv.Requests("batch"), "the first attempt and three retries")
}

func TestAutoBatchReplaysAfterExpiredToken(t *testing.T) {
	t.Parallel()
	c, _, srv := newBatchingPortal(t, bitrix24.MaxAutoBatchWait)
	set := func(prefix string) {
		errs := concurrently(t, fullBatch, func(ctx context.Context, i int) error {
			return c.UserOption.Set(ctx, map[string]any{prefix + strconv.Itoa(i): "v"})
		})
		for _, err := range errs {
			require.NoError(t, err)
		}
	}
	set("a") // the client now holds a token
	srv.ExpireAccessToken()
	refreshes := srv.Refreshes()
	set("b")
	assert.Equal(t, refreshes+1, srv.Refreshes())
	assert.Equal(t, 3, srv.Requests("batch"), "the second batch was replayed once")
	assert.Len(t, srv.UserOptions(srv.OAuthConfig().ClientID, 1), 2*fullBatch)
}

// TestAutoBatchOverWebhookKeepsSecrets: per-command errors and the debug records carry
// neither the webhook code nor a token.
func TestAutoBatchOverWebhookKeepsSecrets(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0))
	t.Cleanup(srv.Close)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := bitrix24.NewWebhookClient(srv.WebhookURL(), bitrix24.WithHTTPClient(srv.Client()),
		bitrix24.WithRateLimit(0, 0), bitrix24.WithAutoBatch(bitrix24.MaxAutoBatchWait), bitrix24.WithLogger(logger))
	require.NoError(t, err)
	errs := concurrently(t, fullBatch, func(ctx context.Context, i int) error {
		if i%2 == 0 {
			return c.Call(ctx, "server.time", nil, nil)
		}
		return c.UserOption.Set(ctx, map[string]any{"k": "v"})
	})
	code := webhookCode(t, srv.WebhookURL())
	for i, err := range errs {
		if i%2 == 0 {
			require.NoError(t, err)
			continue
		}
		require.Error(t, err)
		var apiErr *bitrix24.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, "user.option.set", apiErr.Method)
		assert.NotContains(t, err.Error(), code)
		assert.NotContains(t, fmt.Sprintf("%+v %#v", err, apiErr), code)
	}
	assert.Contains(t, logs.String(), "bitrix24 auto-batch")
	assert.Contains(t, logs.String(), "size=50")
	assert.NotContains(t, logs.String(), code)
}

// webhookCode is the secret part of a webhook URL: .../rest/<user>/<code>/.
func webhookCode(t *testing.T, webhookURL string) string {
	t.Helper()
	parts := strings.Split(strings.TrimSuffix(webhookURL, "/"), "/")
	code := parts[len(parts)-1]
	require.GreaterOrEqual(t, len(code), 8, webhookURL)
	return code
}
