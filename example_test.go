package bitrix24_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// A webhook client for methods that do not need an application context.
func ExampleNewWebhookClient() {
	client, err := bitrix24.NewWebhookClient(os.Getenv("BITRIX24_WEBHOOK_URL"))
	if err != nil {
		log.Print(err) // the error never quotes the webhook code
		return
	}
	var profile map[string]any
	if err := client.Call(context.Background(), "profile", nil, &profile); err != nil {
		log.Print(err)
	}
}

// An application client that persists every rotated token pair.
func ExampleNewOAuthClient() {
	client, err := bitrix24.NewOAuthClient(bitrix24.OAuthConfig{
		PortalURL:    "https://example.bitrix24.com",
		ClientID:     os.Getenv("BITRIX24_CLIENT_ID"),
		ClientSecret: os.Getenv("BITRIX24_CLIENT_SECRET"),
		Token: bitrix24.Token{
			AccessToken:  os.Getenv("BITRIX24_ACCESS_TOKEN"),
			RefreshToken: os.Getenv("BITRIX24_REFRESH_TOKEN"),
			Expiry:       time.Now().Add(time.Hour),
		},
		OnTokenRefresh: func(ctx context.Context, t bitrix24.Token) error {
			// Save t: Bitrix24 has already invalidated the previous refresh token.
			return nil
		},
	}, bitrix24.WithRateLimit(5, 250)) // an Enterprise portal
	if err != nil {
		log.Print(err)
		return
	}
	_ = client
}

// newFakeClient connects to a bitrix24test portal, as the runnable examples do.
func newFakeClient() (*bitrix24.Client, *bitrix24test.Server) {
	srv := bitrix24test.NewServer()
	client, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()))
	if err != nil {
		panic(err) // examples only: the fake's config is always valid
	}
	return client, srv
}

func ExampleUserOptionService_Set() {
	client, srv := newFakeClient()
	defer srv.Close()
	ctx := context.Background()

	if err := client.UserOption.Set(ctx, map[string]any{"theme": "dark", "page_size": 50}); err != nil {
		log.Fatal(err)
	}
	var pageSize int
	found, err := client.UserOption.Get(ctx, "page_size", &pageSize)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(found, pageSize)
	found, _ = client.UserOption.Get(ctx, "missing", nil)
	fmt.Println(found)
	// Output:
	// true 50
	// false
}

func ExampleUserFieldTypeService_Update() {
	client, srv := newFakeClient()
	defer srv.Close()
	ctx := context.Background()

	rating := bitrix24.UserFieldType{UserTypeID: "rating", Handler: "https://app.example.com/uf", Title: "Rating"}
	if err := client.UserFieldType.Add(ctx, rating); err != nil {
		log.Fatal(err)
	}
	rating.Title = "Stars"
	if err := client.UserFieldType.Update(ctx, rating); err != nil {
		log.Fatal(err)
	}
	types, err := client.UserFieldType.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(types[0].UserTypeID, types[0].Title)
	// Output: rating Stars
}

func ExampleAPIError() {
	client, srv := newFakeClient()
	defer srv.Close()

	err := client.UserFieldType.Delete(context.Background(), "nosuchtype")
	var apiErr *bitrix24.APIError
	if errors.Is(err, bitrix24.ErrNotFound) && errors.As(err, &apiErr) {
		fmt.Println(apiErr.Code, apiErr.StatusCode, apiErr.Method)
	}
	// Output: ERROR_NOT_FOUND 400 userfieldtype.delete
}

func ExampleClient_Batch() {
	client, srv := newFakeClient()
	defer srv.Close()

	var cmds []bitrix24.BatchCommand
	for i := 0; i < 120; i++ {
		cmd, err := client.UserOption.SetCommand(fmt.Sprintf("set%d", i), map[string]any{fmt.Sprintf("k%d", i): fmt.Sprint(i)})
		if err != nil {
			log.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	res, err := client.Batch(context.Background(), true, cmds...)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Results), len(res.Errors), srv.Requests("batch"))
	// Output: 120 0 3
}

func ExampleClient_Call() {
	client, srv := newFakeClient()
	defer srv.Close()

	var value string
	err := client.Call(context.Background(), "app.option.get", map[string]string{"option": "missing"}, &value)
	fmt.Println(err, value == "")
	// Output: <nil> true
}
