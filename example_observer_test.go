package bitrix24_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// A request id of your own joins your logs to the client's and to the portal's: it is
// sent as X-Request-ID and comes back in the error.
func ExampleWithRequestID() {
	client, srv := newFakeClient()
	defer srv.Close()

	ctx := bitrix24.WithRequestID(context.Background(), "order-4711")
	err := client.UserFieldType.Delete(ctx, "nosuchtype")
	var apiErr *bitrix24.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Code, "in request", apiErr.RequestID)
	}
	last, _ := srv.LastRequest("userfieldtype.delete")
	fmt.Println("the portal saw", last.Header.Get("X-Request-ID"))
	// Output:
	// ERROR_NOT_FOUND in request order-4711
	// the portal saw order-4711
}

// An Observer sees what the client does; bitrix24otel is one. This one counts attempts
// and retries.
func ExampleWithObserver() {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	var attempts, retries atomic.Int64
	client, err := bitrix24.NewOAuthClient(srv.OAuthConfig(),
		bitrix24.WithHTTPClient(srv.Client()),
		bitrix24.WithRetry(3, time.Millisecond, 10*time.Millisecond),
		bitrix24.WithObserver(&bitrix24.Observer{
			AttemptDone: func(context.Context, bitrix24.AttemptInfo) { attempts.Add(1) },
			Retry: func(_ context.Context, i bitrix24.RetryInfo) {
				retries.Add(1)
				fmt.Println("retrying after", i.Err)
			},
			CallDone: func(_ context.Context, i bitrix24.CallDoneInfo) {
				fmt.Printf("%s: %d attempts, HTTP %d\n", i.Method, i.Attempts, i.StatusCode)
			},
		}))
	if err != nil {
		panic(err)
	}
	srv.InjectFault("user.option.set", 1, bitrix24test.Fault{Status: 503,
		Body: `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`})
	if err := client.UserOption.Set(context.Background(), map[string]any{"theme": "dark"}); err != nil {
		panic(err)
	}
	fmt.Println(attempts.Load(), "attempts,", retries.Load(), "retry")
	// Output:
	// retrying after bitrix24: user.option.set: QUERY_LIMIT_EXCEEDED: Too many requests (HTTP 503)
	// user.option.set: 2 attempts, HTTP 200
	// 2 attempts, 1 retry
}
