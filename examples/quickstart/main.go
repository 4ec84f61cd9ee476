// Command quickstart is the tour of the bitrix24 SDK: user options, a custom user-field
// type from add to delete, a batch, and typed errors.
//
// With no BITRIX24_* variables set it starts bitrix24test, the in-process fake portal, and
// runs against it. With BITRIX24_PORTAL_URL, BITRIX24_CLIENT_ID, BITRIX24_CLIENT_SECRET,
// BITRIX24_ACCESS_TOKEN and BITRIX24_REFRESH_TOKEN set it runs against that portal
// (BITRIX24_WEBHOOK_URL, optional, shows what a webhook gets for these methods).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// portal is where the tour runs: a real portal or the fake one.
type portal struct {
	oauth      bitrix24.OAuthConfig
	webhookURL string
	opts       []bitrix24.Option
	close      func()
}

// realPortal names the variables that point the tour at a real portal; the webhook is
// optional.
var realPortal = []string{"BITRIX24_PORTAL_URL", "BITRIX24_CLIENT_ID", "BITRIX24_CLIENT_SECRET", "BITRIX24_ACCESS_TOKEN", "BITRIX24_REFRESH_TOKEN"}

// connect picks the portal: the fake one when no BITRIX24_* variable is set, a real one
// when all of realPortal are, and an error naming the missing ones in between (a tour
// that quietly ran against the fake would look like a real portal's answers).
func connect(getenv func(string) string) (portal, error) {
	var set, missing []string
	for _, name := range append(realPortal, "BITRIX24_WEBHOOK_URL") {
		if getenv(name) != "" {
			set = append(set, name)
		} else if name != "BITRIX24_WEBHOOK_URL" {
			missing = append(missing, name)
		}
	}
	if len(set) == 0 {
		srv := bitrix24test.NewServer()
		fmt.Println("portal: the built-in fake (bitrix24test) at " + srv.URL + ", because no BITRIX24_* variable is set")
		return portal{
			oauth:      srv.OAuthConfig(),
			webhookURL: srv.WebhookURL(),
			opts:       []bitrix24.Option{bitrix24.WithHTTPClient(srv.Client())},
			close:      srv.Close,
		}, nil
	}
	if len(missing) > 0 {
		return portal{}, fmt.Errorf("%s set, but a real portal also needs %s (user.option.* and userfieldtype.* need an installed application's pair); unset every BITRIX24_* variable to run against the built-in fake portal",
			strings.Join(set, ", "), strings.Join(missing, ", "))
	}
	fmt.Println("portal: " + getenv("BITRIX24_PORTAL_URL"))
	return portal{
		oauth: bitrix24.OAuthConfig{
			PortalURL:    getenv("BITRIX24_PORTAL_URL"),
			ClientID:     getenv("BITRIX24_CLIENT_ID"),
			ClientSecret: getenv("BITRIX24_CLIENT_SECRET"),
			Token: bitrix24.Token{
				AccessToken:  getenv("BITRIX24_ACCESS_TOKEN"),
				RefreshToken: getenv("BITRIX24_REFRESH_TOKEN"),
			},
			OnTokenRefresh: func(_ context.Context, t bitrix24.Token) error {
				fmt.Println("token refreshed: store the new pair now (the old refresh token is spent)")
				return nil
			},
		},
		webhookURL: getenv("BITRIX24_WEBHOOK_URL"),
		close:      func() {},
	}, nil
}

func run(ctx context.Context) error {
	p, err := connect(os.Getenv)
	if err != nil {
		return err
	}
	defer p.close()
	client, err := bitrix24.NewOAuthClient(p.oauth, p.opts...)
	if err != nil {
		return err
	}
	fmt.Printf("client: %v\n", client)

	if err := userOptions(ctx, client); err != nil {
		return err
	}
	if err := fieldTypes(ctx, client); err != nil {
		return err
	}
	if err := batch(ctx, client); err != nil {
		return err
	}
	return typedErrors(ctx, client, p)
}

func userOptions(ctx context.Context, client *bitrix24.Client) error {
	fmt.Println("\n== user options (user.option.set / user.option.get)")
	err := client.UserOption.Set(ctx, map[string]any{
		"theme":     "dark",
		"page_size": 50,
		"columns":   []string{"id", "title", "stage"},
	})
	if err != nil {
		return err
	}
	fmt.Println("set theme, page_size, columns")
	var theme string
	found, err := client.UserOption.Get(ctx, "theme", &theme)
	if err != nil {
		return err
	}
	fmt.Printf("get theme: %q (found %v)\n", theme, found)
	found, err = client.UserOption.Get(ctx, "no_such_key", nil)
	if err != nil {
		return err
	}
	fmt.Printf("get no_such_key: found %v\n", found)
	all, err := client.UserOption.GetAll(ctx)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %s = %s\n", k, all[k])
	}
	return nil
}

func fieldTypes(ctx context.Context, client *bitrix24.Client) error {
	fmt.Println("\n== user-field types (userfieldtype.add / update / list / delete)")
	ft := bitrix24.UserFieldType{
		UserTypeID:  "b24gotour",
		Handler:     "https://app.example.com/uf/tour",
		Title:       "Tour rating",
		Description: "Stars from 1 to 5",
		Height:      60,
	}
	if err := client.UserFieldType.Add(ctx, ft); err != nil {
		return err
	}
	fmt.Println("added " + ft.UserTypeID)
	ft.Title, ft.Height = "Tour rating (v2)", 80
	if err := client.UserFieldType.Update(ctx, ft); err != nil {
		return err
	}
	fmt.Println("updated the title and height")
	types, err := client.UserFieldType.List(ctx)
	if err != nil {
		return err
	}
	for _, t := range types {
		fmt.Printf("  %s: %q -> %s\n", t.UserTypeID, t.Title, t.Handler)
	}
	if err := client.UserFieldType.Delete(ctx, ft.UserTypeID); err != nil {
		return err
	}
	fmt.Println("deleted " + ft.UserTypeID)
	return nil
}

func batch(ctx context.Context, client *bitrix24.Client) error {
	fmt.Println("\n== batch: 120 option writes in 3 requests")
	var cmds []bitrix24.BatchCommand
	for i := 0; i < 120; i++ {
		cmd, err := client.UserOption.SetCommand(fmt.Sprintf("w%03d", i), map[string]any{fmt.Sprintf("counter_%03d", i): fmt.Sprint(i)})
		if err != nil {
			return err
		}
		cmds = append(cmds, cmd)
	}
	res, err := client.Batch(ctx, true, cmds...)
	if err != nil {
		return err
	}
	fmt.Printf("batch: %d succeeded, %d failed, %d skipped\n", len(res.Results), len(res.Errors), len(res.Skipped))
	return nil
}

func typedErrors(ctx context.Context, client *bitrix24.Client, p portal) error {
	fmt.Println("\n== typed errors")
	err := client.UserFieldType.Delete(ctx, "b24gotour")
	var apiErr *bitrix24.APIError
	if errors.Is(err, bitrix24.ErrNotFound) && errors.As(err, &apiErr) {
		fmt.Printf("delete again: errors.Is(err, ErrNotFound) holds; code %s, HTTP %d\n", apiErr.Code, apiErr.StatusCode)
	} else {
		return fmt.Errorf("expected ErrNotFound, got %v", err)
	}
	err = client.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: "Bad-Id", Handler: "https://app.example.com/", Title: "x"})
	if !errors.Is(err, bitrix24.ErrValidation) {
		return fmt.Errorf("expected ErrValidation, got %v", err)
	}
	fmt.Println("bad input, nothing sent:", err)
	if p.webhookURL == "" {
		return nil
	}
	hook, err := bitrix24.NewWebhookClient(p.webhookURL, p.opts...)
	if err != nil {
		return err
	}
	err = hook.UserOption.Set(ctx, map[string]any{"theme": "light"})
	if !errors.Is(err, bitrix24.ErrAccessDenied) {
		return fmt.Errorf("expected ErrAccessDenied through a webhook, got %v", err)
	}
	fmt.Println("through a webhook:", err)
	return nil
}
