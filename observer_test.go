package bitrix24_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

const queryLimitBody = `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// requestIDs lists the X-Request-ID of every logged request of method.
func requestIDs(srv *bitrix24test.Server, method string) []string {
	var out []string
	for _, r := range srv.RequestLog() {
		if r.Method == method {
			out = append(out, r.Header.Get("X-Request-ID"))
		}
	}
	return out
}

func TestRequestIDSameForEveryAttempt(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	c := srv.NewClient()
	srv.InjectFault("user.option.set", 1, bitrix24test.Fault{Status: 503, Body: queryLimitBody})
	ctx := context.Background()
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"a": "1"}))
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"a": "2"}))

	ids := requestIDs(srv, "user.option.set")
	require.Len(t, ids, 3)
	assert.Regexp(t, generatedID, ids[0])
	assert.Equal(t, ids[0], ids[1], "a retry is the same call")
	assert.Regexp(t, generatedID, ids[2])
	assert.NotEqual(t, ids[0], ids[2], "each call gets a fresh id")
}

func TestWithRequestIDIsSentEverywhere(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	c := srv.NewClient()
	ctx := bitrix24.WithRequestID(context.Background(), "order-7/retry")
	srv.InjectFault("user.option.set", 1, bitrix24test.Fault{Status: 503, Body: queryLimitBody})
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"a": "1"}))
	_, err := c.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "user.option.get", Params: map[string]string{"option": "a"}})
	require.NoError(t, err)
	for row, err := range c.List(ctx, "userfieldtype.list", nil) {
		require.NoError(t, err)
		_ = row
	}
	srv.ExpireAccessToken()
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"a": "3"}))

	assert.Equal(t, []string{"order-7/retry", "order-7/retry", "order-7/retry", "order-7/retry"}, requestIDs(srv, "user.option.set"))
	assert.Equal(t, []string{"order-7/retry"}, requestIDs(srv, "batch"))
	assert.Equal(t, []string{"order-7/retry"}, requestIDs(srv, "userfieldtype.list"))
	refresh := requestIDs(srv, "oauth/token")
	require.Len(t, refresh, 1)
	assert.Regexp(t, generatedID, refresh[0], "the shared refresh is a request of its own")
}

func TestWithRequestIDRefusesWhatAHeaderCannotCarry(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	c := srv.NewClient()
	for _, id := range []string{"a\r\nX-Evil: 1", "tab\there", strings.Repeat("x", bitrix24.MaxRequestIDLength+1), "ünï"} {
		ctx := bitrix24.WithRequestID(context.Background(), id)
		require.ErrorIs(t, c.UserOption.Set(ctx, map[string]any{"a": "1"}), bitrix24.ErrValidation, "%q", id)
		_, err := c.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "scope"})
		require.ErrorIs(t, err, bitrix24.ErrValidation, "%q", id)
	}
	assert.Empty(t, srv.RequestLog(), "nothing was sent")
	ctx := bitrix24.WithRequestID(context.Background(), strings.Repeat("x", bitrix24.MaxRequestIDLength))
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"a": "1"}))
	ctx = bitrix24.WithRequestID(context.Background(), "")
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"a": "1"}))
	assert.Regexp(t, generatedID, requestIDs(srv, "user.option.set")[1], "an empty id means a fresh one")
}

func TestRequestIDInErrorAndDebugLog(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := srv.NewClient(bitrix24.WithLogger(logger))

	err := c.UserFieldType.Delete(context.Background(), "missing")
	var apiErr *bitrix24.APIError
	require.ErrorAs(t, err, &apiErr)
	ids := requestIDs(srv, "userfieldtype.delete")
	require.Len(t, ids, 1)
	assert.Equal(t, ids[0], apiErr.RequestID)

	var logged []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec["msg"] == "bitrix24 call" {
			logged = append(logged, fmt.Sprint(rec["request_id"]))
		}
	}
	assert.Equal(t, []string{ids[0]}, logged)
}

func TestBatchErrorsNameTheirRequest(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	c := srv.NewClient()
	res, err := c.Batch(bitrix24.WithRequestID(context.Background(), "b-1"), false,
		bitrix24.BatchCommand{Key: "a", Method: "userfieldtype.delete", Params: map[string]string{"USER_TYPE_ID": "missing"}})
	require.NoError(t, err)
	require.Contains(t, res.Errors, "a")
	assert.Equal(t, "b-1", res.Errors["a"].RequestID)
	var apiErr *bitrix24.APIError

	// A call carried by an automatic batch names the batch's request.
	srv.HandleError("crm.thing.get", 400, "ERROR_NOT_FOUND", "Not found")
	ab := srv.NewClient(bitrix24.WithAutoBatch(bitrix24.MaxAutoBatchWait))
	var wg sync.WaitGroup
	errs := make([]error, bitrix24.MaxBatchCommands)
	for i := range errs {
		wg.Go(func() {
			errs[i] = ab.Call(context.Background(), "crm.thing.get", map[string]string{"id": fmt.Sprint(i)}, nil)
		})
	}
	wg.Wait()
	require.Equal(t, bitrix24.AutoBatchStats{Calls: bitrix24.MaxBatchCommands, Batches: 1}, ab.AutoBatchStats())
	batchIDs := requestIDs(srv, "batch")
	require.Len(t, batchIDs, 2)
	for _, err := range errs {
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, batchIDs[1], apiErr.RequestID)
	}
}
