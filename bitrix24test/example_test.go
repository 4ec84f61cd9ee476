package bitrix24test_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

func ExampleNewServer() {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	client := srv.NewClient() // the installed application, acting for user 1
	ctx := context.Background()

	if err := client.UserOption.Set(ctx, map[string]any{"greeting": "hello"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.UserOptions(srv.ClientID(), 1))

	// Webhooks have no application context.
	err := srv.NewWebhookClient().UserOption.Set(ctx, map[string]any{"greeting": "hi"})
	var apiErr *bitrix24.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Code)
	}
	// Output:
	// map[greeting:hello]
	// 403 ACCESS_DENIED
}

// A method the fake does not implement, programmed by the test. It still goes through
// authentication, scopes, limits, batch and faults.
func ExampleServer_Handle() {
	srv := bitrix24test.NewServer(bitrix24test.WithScope("crm,user"))
	defer srv.Close()
	type deal struct {
		ID    string `json:"ID"`
		Title string `json:"TITLE"`
	}
	srv.Handle("crm.deal.get", func(ctx context.Context, r bitrix24test.Request) (any, error) {
		if r.Params["id"] != "7" {
			return nil, &bitrix24test.Error{Status: http.StatusBadRequest, Code: "ERROR_NOT_FOUND", Description: "Not found"}
		}
		return deal{ID: "7", Title: "Rocket"}, nil
	}, bitrix24test.RequireScope("crm"))
	srv.HandleError("crm.deal.delete", http.StatusForbidden, "ACCESS_DENIED", "Access denied!")

	client := srv.NewClient()
	ctx := context.Background()
	var d deal
	err := client.Call(ctx, "crm.deal.get", map[string]string{"id": "7"}, &d)
	fmt.Println(d.Title, err)
	err = client.Call(ctx, "crm.deal.get", map[string]string{"id": "8"}, nil)
	fmt.Println(errors.Is(err, bitrix24.ErrNotFound))
	err = client.Call(ctx, "crm.deal.delete", map[string]string{"id": "7"}, nil)
	fmt.Println(errors.Is(err, bitrix24.ErrAccessDenied))
	// Output:
	// Rocket <nil>
	// true
	// true
}

// A 502 from the proxy: the client retries the read, after milliseconds.
func ExampleServer_InjectFault() {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	srv.InjectFault("user.option.get", 1, bitrix24test.FaultHTML(http.StatusBadGateway))

	var theme string
	_, err := srv.NewClient().UserOption.Get(context.Background(), "theme", &theme)
	fmt.Println(err)
	for _, r := range srv.RequestLog() {
		fmt.Println(r.Method, r.Status)
	}
	// Output:
	// <nil>
	// user.option.get 502
	// user.option.get 200
}

// The access token expires: the client refreshes it and repeats the call.
func ExampleServer_ExpireAccessToken() {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	client := srv.NewClient()
	srv.ExpireAccessToken()

	err := client.UserOption.Set(context.Background(), map[string]any{"k": "v"})
	fmt.Println(err, srv.Refreshes())
	for _, r := range srv.RequestLog() {
		fmt.Printf("%s %d %q\n", r.Method, r.Status, r.ErrorCode)
	}
	// Output:
	// <nil> 1
	// user.option.set 401 "expired_token"
	// oauth/token 200 ""
	// user.option.set 200 ""
}

func ExampleServer_RequestLog() {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	srv.AddUser(2, false)
	ctx := context.Background()
	admin := srv.NewClient()
	user2, err := bitrix24.NewOAuthClient(srv.OAuthConfigForUser(2), bitrix24.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}

	_ = admin.Call(ctx, "app.option.set", map[string]any{"options": map[string]any{"mode": "fast"}}, nil)
	_ = user2.Call(ctx, "app.option.set", map[string]any{"options": map[string]any{"mode": "slow"}}, nil)

	l := srv.RequestLog()
	fmt.Println(l.Methods())
	for _, r := range l.Failed() {
		fmt.Println(r.UserID, r.Status, r.ErrorCode, r.Params["options"])
	}
	fmt.Println(len(l.ForUser(1)), len(l.WithErrorCode("access_denied")))
	srv.ResetRequestLog()
	fmt.Println(len(srv.RequestLog()))
	// Output:
	// [app.option.set app.option.set]
	// 2 403 ACCESS_DENIED map[mode:slow]
	// 1 1
	// 0
}

// State put in place without API calls, saved and brought back.
func ExampleServer_SetUserOptions() {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	if err := srv.SetUserOptions(srv.ClientID(), 1, map[string]any{"page_size": 50}); err != nil {
		log.Fatal(err)
	}
	err := srv.AddUserFieldType(bitrix24test.UserFieldTypeRecord{
		ClientID: srv.ClientID(), UserTypeID: "rating", Handler: "https://app.example.com/uf", Title: "Rating",
	})
	if err != nil {
		log.Fatal(err)
	}
	saved := srv.Snapshot()

	client := srv.NewClient()
	ctx := context.Background()
	var size int
	_, _ = client.UserOption.Get(ctx, "page_size", &size)
	_ = client.UserFieldType.Delete(ctx, "rating")
	fmt.Println(size, len(srv.UserFieldTypes("")))

	if err := srv.Restore(saved); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.UserFieldTypes("")[0].Title)
	// Output:
	// 50 0
	// Rating
}

// A user's test with 100 calls and two injected faults: NewClient's retries wait
// milliseconds and the Enterprise bucket (New's default) does not pace it, so it runs in
// well under a second (time it with go test -v; nothing here asserts on the clock).
func Example_hundredCallsTwoFaults() {
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(bitrix24test.EnterpriseRateLimit, bitrix24test.EnterpriseBurst))
	defer srv.Close()
	client := srv.NewClient()
	ctx := context.Background()
	srv.InjectFault("user.option.get", 1, bitrix24test.FaultHTML(http.StatusBadGateway))
	srv.InjectFault("*", 1, bitrix24test.FaultError(http.StatusServiceUnavailable, "QUERY_LIMIT_EXCEEDED", "Too many requests"))
	for i := range 100 {
		var err error
		if i%2 == 0 {
			err = client.UserOption.Set(ctx, map[string]any{"n": i})
		} else {
			_, err = client.UserOption.Get(ctx, "n", nil)
		}
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("calls:", srv.Calls("user.option.set")+srv.Calls("user.option.get"), "failed requests:", len(srv.RequestLog().Failed()))
	// Output: calls: 100 failed requests: 2
}
