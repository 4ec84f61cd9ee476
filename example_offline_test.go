package bitrix24_test

import (
	"context"
	"fmt"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// An internal tool without a public URL: it binds deal events offline, and reads what
// users changed. Each page is cleared only when the loop asks for more, so a crash
// mid-page brings the page back on the next run.
func ExampleEventService_Offline() {
	srv := bitrix24test.NewServer(bitrix24test.WithScope("crm"), bitrix24test.WithWebhookScope("crm"))
	defer srv.Close()
	ctx := context.Background()
	tool := srv.NewClient()
	user := srv.NewWebhookClient() // a person editing deals

	err := tool.Event.Bind(ctx, bitrix24.EventBinding{Event: "ONCRMDEALADD", Offline: true})
	if err != nil {
		panic(err)
	}
	for _, title := range []string{"Spring order", "Summer order"} {
		err := user.Call(ctx, "crm.item.add", map[string]any{"entityTypeId": 2, "fields": map[string]any{"title": title}}, nil)
		if err != nil {
			panic(err)
		}
	}

	for ev, err := range tool.Event.Offline(ctx) {
		if err != nil {
			panic(err)
		}
		fields := ev.Data["FIELDS"].(map[string]any)
		fmt.Println(ev.Event, fields["ID"])
	}
	fmt.Println("left on the portal:", len(srv.OfflineEvents()))
	// Output:
	// ONCRMDEALADD 1
	// ONCRMDEALADD 2
	// left on the portal: 0
}

// A tool that writes what it reads marks its writes with its connector, so that they do
// not come back to it as events.
func ExampleWithAuthConnector() {
	srv := bitrix24test.NewServer(bitrix24test.WithScope("crm"), bitrix24test.WithWebhookScope("crm"))
	defer srv.Close()
	ctx := context.Background()
	tool, user := srv.NewClient(), srv.NewWebhookClient()
	add := func(c *bitrix24.Client, title string, opts ...bitrix24.CallOption) {
		err := c.Call(ctx, "crm.item.add", map[string]any{"entityTypeId": 2, "fields": map[string]any{"title": title}}, nil, opts...)
		if err != nil {
			panic(err)
		}
	}

	err := tool.Event.Bind(ctx, bitrix24.EventBinding{Event: "ONCRMDEALADD", Offline: true, Connector: "erp-sync"})
	if err != nil {
		panic(err)
	}
	add(user, "typed in by a user")
	add(tool, "imported by the tool", bitrix24.WithAuthConnector("erp-sync"))

	for ev, err := range tool.Event.Offline(ctx, bitrix24.FromConnector("erp-sync")) {
		if err != nil {
			panic(err)
		}
		fmt.Println(ev.Event, ev.Data["FIELDS"].(map[string]any)["ID"])
	}
	// Output:
	// ONCRMDEALADD 1
}
