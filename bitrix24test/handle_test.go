package bitrix24test_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClosesAtCleanup(t *testing.T) {
	var srv *bitrix24test.Server
	t.Run("inner", func(t *testing.T) {
		srv = bitrix24test.New(t)
		require.NoError(t, srv.NewClient().Call(context.Background(), "server.time", nil, nil))
	})
	hc := srv.Client()
	_, err := hc.Get(srv.URL + "/rest/server.time")
	require.Error(t, err, "the server is closed when the test ends")
}

func TestHandleGoesThroughThePipeline(t *testing.T) {
	srv := bitrix24test.New(t, bitrix24test.WithScope("user"))
	ctx := context.Background()
	var mu sync.Mutex
	var seen []bitrix24test.Request
	srv.Handle("user.current", func(ctx context.Context, r bitrix24test.Request) (any, error) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		srv.AddUser(9, false) // the server may be used from a handler
		return map[string]any{"ID": r.UserID}, nil
	})
	srv.HandleResult("crm.deal.list", bitrix24test.Page{Items: []string{"a", "b"}, Total: 5, Next: 2}, bitrix24test.RequireScope("crm"))

	client := srv.NewClient()
	var me struct{ ID int }
	require.NoError(t, client.Call(ctx, "User.Current.json", map[string]any{"x": "1"}, &me))
	assert.Equal(t, 1, me.ID)
	require.Len(t, seen, 1)
	assert.Equal(t, "user.current", seen[0].Method)
	assert.Equal(t, "oauth", seen[0].AuthType)
	assert.Equal(t, srv.ClientID(), seen[0].ClientID)
	assert.Equal(t, "1", seen[0].Params["x"])
	assert.NotContains(t, seen[0].Params, "auth", "credentials are taken out")

	// Scope: the app lacks crm.
	err := client.Call(ctx, "crm.deal.list", nil, nil)
	assert.ErrorIs(t, err, bitrix24.ErrInsufficientScope)

	// Webhooks reach custom methods too, and batch runs them.
	hook := srv.NewWebhookClient()
	require.NoError(t, hook.Call(ctx, "user.current", nil, &me))
	assert.Equal(t, "webhook", seen[1].AuthType)
	assert.Empty(t, seen[1].ClientID)

	// Faults apply to custom methods.
	srv.InjectFault("user.current", 1, bitrix24test.FaultHTML(http.StatusBadGateway))
	require.NoError(t, client.Call(ctx, "user.current", nil, &me), "a read is retried")
	assert.Equal(t, 3, srv.Calls("user.current"))
	assert.Equal(t, 4, srv.Requests("user.current"))

	// methods lists them; a nil handler removes one.
	var names []string
	require.NoError(t, client.Call(ctx, "methods", nil, &names))
	assert.Contains(t, names, "user.current")
	srv.Handle("user.current", nil)
	assert.ErrorIs(t, client.Call(ctx, "user.current", nil, nil), bitrix24.ErrMethodNotFound)
}

func TestHandleListAndBatch(t *testing.T) {
	srv := bitrix24test.New(t, bitrix24test.WithScope("crm,user"))
	srv.HandleResult("crm.deal.list", bitrix24test.Page{Items: []string{"a", "b"}, Total: 5, Next: 2}, bitrix24test.RequireScope("crm"))
	srv.Handle("crm.deal.get", func(_ context.Context, r bitrix24test.Request) (any, error) {
		return map[string]any{"ID": r.Params["id"]}, nil
	})
	hc := srv.Client()
	res, err := hc.Get(srv.URL + "/rest/crm.deal.list?auth=" + srv.Token().AccessToken)
	require.NoError(t, err)
	body := readAll(t, res)
	assert.Contains(t, body, `{"result":["a","b"],"total":5,"next":2,"time":`)

	client := srv.NewClient()
	cmd := func(key, method string, params any) bitrix24.BatchCommand {
		return bitrix24.BatchCommand{Key: key, Method: method, Params: params}
	}
	br, err := client.Batch(context.Background(), false,
		cmd("list", "crm.deal.list", nil),
		cmd("get", "crm.deal.get", map[string]any{"id": "$result[list][1]"}))
	require.NoError(t, err)
	assert.JSONEq(t, `{"ID":"b"}`, string(br.Results["get"]))
	assert.Equal(t, 1, srv.Requests("batch"))
	assert.Equal(t, 1, srv.Calls("crm.deal.get"))
}

func TestHandleErrors(t *testing.T) {
	srv := bitrix24test.New(t)
	ctx := context.Background()
	srv.Handle("x.fail", func(context.Context, bitrix24test.Request) (any, error) {
		return nil, errors.New("plain failure")
	})
	srv.Handle("x.panic", func(context.Context, bitrix24test.Request) (any, error) { panic("boom") })
	srv.Handle("x.cycle", func(context.Context, bitrix24test.Request) (any, error) {
		m := map[string]any{}
		m["self"] = m
		return m, nil
	})
	srv.Handle("x.arg", func(context.Context, bitrix24test.Request) (any, error) {
		return nil, &bitrix24test.Error{Code: "ERROR_ARGUMENT", Description: "Argument 'ID' is null or empty", Argument: "ID"}
	})
	srv.HandleError("x.denied", http.StatusForbidden, "ACCESS_DENIED", "Access denied!")
	client := srv.NewClient(bitrix24.WithRetry(0, 0, 0))

	var apiErr *bitrix24.APIError
	require.ErrorAs(t, client.Call(ctx, "x.fail", nil, nil), &apiErr)
	assert.Equal(t, "ERROR_CORE", apiErr.Code)
	assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	assert.Equal(t, "plain failure", apiErr.Description)

	require.ErrorAs(t, client.Call(ctx, "x.panic", nil, nil), &apiErr)
	assert.Equal(t, http.StatusInternalServerError, apiErr.StatusCode)
	assert.Contains(t, apiErr.Description, "boom")

	require.ErrorAs(t, client.Call(ctx, "x.cycle", nil, nil), &apiErr)
	assert.Equal(t, http.StatusInternalServerError, apiErr.StatusCode)

	require.ErrorAs(t, client.Call(ctx, "x.arg", nil, nil), &apiErr)
	assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	assert.Equal(t, "ID", apiErr.Argument)

	assert.ErrorIs(t, client.Call(ctx, "x.denied", nil, nil), bitrix24.ErrAccessDenied)
	assert.Equal(t, []string{"ERROR_CORE", "ERROR_CORE", "ERROR_CORE", "ERROR_ARGUMENT", "ACCESS_DENIED"}, codes(srv.RequestLog()))
}

func TestRequestLogConcurrent(t *testing.T) {
	srv := bitrix24test.New(t)
	client := srv.NewClient()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				_ = client.Call(context.Background(), "server.time", nil, nil)
				_ = srv.RequestLog().ForMethod("server.time")
			}
			if g == 0 {
				srv.ResetRequestLog()
			}
		}()
	}
	wg.Wait()
	l := srv.RequestLog()
	assert.LessOrEqual(t, len(l), 80)
	for i := 1; i < len(l); i++ {
		assert.False(t, l[i].Time.Before(l[i-1].Time), "arrival order")
	}
	assert.Equal(t, 80, srv.Requests("server.time"))
}

func TestNewClientOptionsOverride(t *testing.T) {
	srv := bitrix24test.New(t, bitrix24test.WithPlainHTTP())
	srv.InjectFault("user.option.get", 1, bitrix24test.FaultHTML(http.StatusBadGateway))
	client := srv.NewClient(bitrix24.WithRetry(0, 0, 0))
	_, err := client.UserOption.Get(context.Background(), "k", nil)
	require.Error(t, err, "retries were turned off by the caller")
	_, err = client.UserOption.Get(context.Background(), "k", nil)
	require.NoError(t, err, "plain HTTP is allowed for the fake")

	ft := &fatalRecorder{TB: t}
	bad := bitrix24test.New(ft)
	func() {
		defer func() { _ = recover() }() // runtime.Goexit stand-in
		bad.NewClient(bitrix24.WithLogger(nil))
	}()
	assert.True(t, ft.failed, "a bad option fails the test")
}

// fatalRecorder records Fatalf instead of ending the test.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}

func codes(l bitrix24test.RequestLog) []string {
	var out []string
	for _, r := range l {
		out = append(out, r.ErrorCode)
	}
	return out
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}
