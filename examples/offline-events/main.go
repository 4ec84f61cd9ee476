// Command offline-events shows an internal tool that has no public URL reading the
// events Bitrix24 keeps for it: offline bindings, a consumer that gets every event at
// least once (a crash mid-page brings the page back), and auth_connector keeping the
// tool's own writes out of its queue.
//
// It runs against bitrix24test, the in-process fake portal: go run ./examples/offline-events
package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "offline-events:", err)
		os.Exit(1)
	}
}

const deals = 2 // crm.item.*'s entityTypeId of deals

func run(ctx context.Context) error {
	srv := bitrix24test.NewServer(bitrix24test.WithScope("crm"), bitrix24test.WithWebhookScope("crm"))
	defer srv.Close()
	tool := srv.NewClient()        // the internal tool: an installed application, an administrator
	user := srv.NewWebhookClient() // someone working in the CRM

	fmt.Println("1. The tool binds deal events offline: no handler URL, the portal keeps them.")
	for _, ev := range []string{"ONCRMDEALADD", "ONCRMDEALUPDATE"} {
		if err := tool.Event.Bind(ctx, bitrix24.EventBinding{Event: ev, Offline: true}); err != nil {
			return err
		}
	}
	bindings, err := tool.Event.Bindings(ctx)
	if err != nil {
		return err
	}
	for _, b := range bindings {
		fmt.Printf("   bound %s offline=%v\n", b.Event, b.Offline)
	}

	fmt.Println("2. A user adds two deals and renames one; the tool reads and clears the queue.")
	a, err := addDeal(ctx, user, "Spring order")
	if err != nil {
		return err
	}
	if _, err := addDeal(ctx, user, "Summer order"); err != nil {
		return err
	}
	if err := updateDeal(ctx, user, a, "Spring order (signed)"); err != nil {
		return err
	}
	got, err := consume(ctx, tool, 0)
	if err != nil {
		return err
	}
	if len(got) != 3 || len(srv.OfflineEvents()) != 0 {
		return fmt.Errorf("expected 3 events and an empty queue, got %v and %d left", got, len(srv.OfflineEvents()))
	}

	fmt.Println("3. Three more deals; the tool handles two of a page of three, then crashes.")
	var want []string
	for _, title := range []string{"Autumn order", "Winter order", "Next year"} {
		id, err := addDeal(ctx, user, title)
		if err != nil {
			return err
		}
		want = append(want, fmt.Sprintf("ONCRMDEALADD %d", id))
	}
	if _, err := consume(ctx, srv.NewClient(), 2, bitrix24.OfflinePageSize(3)); err != nil {
		return err
	}
	reserved := 0
	for _, r := range srv.OfflineEvents() {
		if r.ProcessID != "" {
			reserved++
		}
	}
	fmt.Printf("   the portal still holds %d records, reserved under the crashed page's process_id\n", reserved)

	fmt.Println("4. The tool restarts: the uncleared page comes again, first and whole.")
	again, err := consume(ctx, srv.NewClient(), 0, bitrix24.OfflinePageSize(3))
	if err != nil {
		return err
	}
	if !slices.Equal(again, want) || len(srv.OfflineEvents()) != 0 {
		return fmt.Errorf("expected %v again and an empty queue, got %v", want, again)
	}

	fmt.Println("5. auth_connector: the tool's own writes stay out of its connector's queue.")
	sync := bitrix24.EventBinding{Event: "ONCRMDEALUPDATE", Offline: true, Connector: "erp-sync"}
	if err := tool.Event.Bind(ctx, sync); err != nil {
		return err
	}
	if err := updateDeal(ctx, tool, a, "Spring order (synced from ERP)", bitrix24.WithAuthConnector("erp-sync")); err != nil {
		return err
	}
	if err := updateDeal(ctx, user, a, "Spring order (a user's note)"); err != nil {
		return err
	}
	seen, err := consume(ctx, tool, 0, bitrix24.FromConnector("erp-sync"))
	if err != nil {
		return err
	}
	if len(seen) != 1 {
		return fmt.Errorf("expected only the user's update in the erp-sync queue, got %v", seen)
	}
	fmt.Println("   only the user's update reached the erp-sync queue")

	if err := tool.Event.Unbind(ctx, sync); err != nil {
		return err
	}
	fmt.Println("done")
	return nil
}

// consume reads the queue and "handles" each event by printing it. With crashAfter > 0
// it stops after that many events without clearing: what a process that dies does.
func consume(ctx context.Context, c *bitrix24.Client, crashAfter int, opts ...bitrix24.OfflineOption) ([]string, error) {
	var handled []string
	for ev, err := range c.Event.Offline(ctx, opts...) {
		if err != nil {
			return handled, err
		}
		line := fmt.Sprintf("%s %v", ev.Event, ev.Data["FIELDS"].(map[string]any)["ID"])
		fmt.Printf("   handled %s (record %d, %s)\n", line, ev.ID, ev.Timestamp.Format(time.TimeOnly))
		handled = append(handled, line)
		if crashAfter > 0 && len(handled) == crashAfter {
			fmt.Println("   -- crash: the process exits before the page is cleared --")
			return handled, nil
		}
	}
	return handled, nil
}

func addDeal(ctx context.Context, c *bitrix24.Client, title string) (int, error) {
	var res struct {
		Item struct {
			ID int `json:"id"`
		} `json:"item"`
	}
	err := c.Call(ctx, "crm.item.add", map[string]any{"entityTypeId": deals, "fields": map[string]any{"title": title}}, &res)
	return res.Item.ID, err
}

func updateDeal(ctx context.Context, c *bitrix24.Client, id int, title string, opts ...bitrix24.CallOption) error {
	return c.Call(ctx, "crm.item.update",
		map[string]any{"entityTypeId": deals, "id": id, "fields": map[string]any{"title": title}}, nil, opts...)
}
