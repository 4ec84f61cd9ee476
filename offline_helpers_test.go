package bitrix24_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// dealType is crm.item.*'s entityTypeId of deals.
const dealType = 2

// newEventPortal starts a fake portal whose application and webhook have the crm scope
// (CRM events need it), with opts after that.
func newEventPortal(t *testing.T, opts ...bitrix24test.Option) *bitrix24test.Server {
	t.Helper()
	base := []bitrix24test.Option{
		bitrix24test.WithScope("crm,placement,user"),
		bitrix24test.WithWebhookScope("crm,placement,user"),
	}
	return bitrix24test.New(t, append(base, opts...)...)
}

// addDeal creates a deal through c (a user's change when c is the webhook client) and
// returns its id.
func addDeal(t *testing.T, c *bitrix24.Client, title string, opts ...bitrix24.CallOption) int {
	t.Helper()
	var res struct {
		Item struct {
			ID int `json:"id"`
		} `json:"item"`
	}
	require.NoError(t, c.Call(context.Background(), "crm.item.add",
		map[string]any{"entityTypeId": dealType, "fields": map[string]any{"title": title}}, &res, opts...))
	return res.Item.ID
}

func updateDeal(t *testing.T, c *bitrix24.Client, id int, title string, opts ...bitrix24.CallOption) {
	t.Helper()
	require.NoError(t, c.Call(context.Background(), "crm.item.update",
		map[string]any{"entityTypeId": dealType, "id": id, "fields": map[string]any{"title": title}}, nil, opts...))
}

// bindOffline binds events offline for the application of c.
func bindOffline(t *testing.T, c *bitrix24.Client, connector string, events ...string) {
	t.Helper()
	for _, ev := range events {
		require.NoError(t, c.Event.Bind(context.Background(), bitrix24.EventBinding{Event: ev, Offline: true, Connector: connector}))
	}
}

// dealIDOf reads FIELDS.ID of a CRM event.
func dealIDOf(t *testing.T, ev bitrix24.OfflineEvent) int {
	t.Helper()
	fields, ok := ev.Data["FIELDS"].(map[string]any)
	require.True(t, ok, "event data %v has no FIELDS", ev.Data)
	id, ok := fields["ID"].(float64)
	require.True(t, ok, "FIELDS.ID of %v", fields)
	return int(id)
}

// drain collects every event of one walk, failing the test on an error.
func drain(t *testing.T, c *bitrix24.Client, opts ...bitrix24.OfflineOption) []bitrix24.OfflineEvent {
	t.Helper()
	var out []bitrix24.OfflineEvent
	for ev, err := range c.Event.Offline(context.Background(), opts...) {
		require.NoError(t, err)
		out = append(out, ev)
	}
	return out
}

func eventNames(evs []bitrix24.OfflineEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Event
	}
	return out
}
