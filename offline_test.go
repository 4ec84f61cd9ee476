package bitrix24_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

func TestOfflineYieldsUserChangesAndClearsThem(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD", "ONCRMDEALUPDATE")

	id := addDeal(t, user, "first")
	updateDeal(t, user, id, "second")
	updateDeal(t, user, id, "third") // merges into the record of the first update

	evs := drain(t, app)
	require.Equal(t, []string{"ONCRMDEALADD", "ONCRMDEALUPDATE"}, eventNames(evs))
	for _, ev := range evs {
		assert.Equal(t, id, dealIDOf(t, ev))
		assert.Len(t, ev.MessageID, 32)
		assert.NotZero(t, ev.ID)
		assert.NotEmpty(t, ev.ProcessID)
		assert.False(t, ev.Timestamp.IsZero())
		assert.EqualValues(t, 1, ev.Additional["user_id"])
	}
	assert.Empty(t, srv.OfflineEvents(), "a finished walk clears what it yielded")
	assert.Empty(t, drain(t, app), "nothing comes twice after a clean walk")
	for _, r := range srv.RequestLog() {
		if r.Method == "event.offline.get" {
			assert.EqualValues(t, "0", asText(r.Params["clear"]), "every get sends clear=0")
		}
	}
}

func asText(v any) string { return fmt.Sprint(v) }

func TestOfflineClearsAPageOnlyWhenTheLoopAsksForMore(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	for i := range 3 {
		addDeal(t, user, "deal "+string(rune('a'+i)))
	}

	n := 0
	for ev, err := range app.Event.Offline(context.Background(), bitrix24.OfflinePageSize(2)) {
		require.NoError(t, err)
		n++
		recs := srv.OfflineEvents()
		switch n {
		case 1, 2:
			require.Len(t, recs, 3, "the page is not cleared while it is being handled")
			assert.Equal(t, ev.ProcessID, recs[0].ProcessID)
			assert.Equal(t, ev.ProcessID, recs[1].ProcessID)
			assert.Empty(t, recs[2].ProcessID, "the next page is not reserved yet")
		case 3:
			require.Len(t, recs, 1, "asking for the third event cleared the first page")
			assert.Equal(t, ev.ProcessID, recs[0].ProcessID)
		}
	}
	assert.Equal(t, 3, n)
	assert.Empty(t, srv.OfflineEvents())
}

func TestOfflineYieldsABrokenPageAgainFirstToAFreshClient(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	var ids []int
	for i := range 5 {
		ids = append(ids, addDeal(t, user, "deal "+string(rune('a'+i))))
	}

	var first []int
	for ev, err := range app.Event.Offline(context.Background(), bitrix24.OfflinePageSize(3)) {
		require.NoError(t, err)
		first = append(first, dealIDOf(t, ev))
		if len(first) == 2 {
			break // handled two of the page's three, then stopped
		}
	}
	require.Equal(t, ids[:2], first)
	assert.Len(t, srv.OfflineEvents(), 5, "a broken page is not cleared")

	later := addDeal(t, user, "after the break")
	fresh := srv.NewClient() // another process, or this one restarted
	var again []int
	for _, ev := range drain(t, fresh, bitrix24.OfflinePageSize(3)) {
		again = append(again, dealIDOf(t, ev))
	}
	assert.Equal(t, append(append([]int{}, ids...), later), again,
		"the reserved page comes first, whole, then the rest in order")
	assert.Empty(t, srv.OfflineEvents())
}

func TestOfflineRecoversAPageReservedWithALargerLimit(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	for range 4 {
		addDeal(t, user, "deal")
	}
	for _, err := range app.Event.Offline(context.Background(), bitrix24.OfflinePageSize(4)) {
		require.NoError(t, err)
		break
	}
	// A reader with a smaller page must not clear the records of the big page it has not
	// yielded yet.
	assert.Len(t, drain(t, app, bitrix24.OfflinePageSize(1)), 4)
	assert.Empty(t, srv.OfflineEvents())
}

func TestOfflineOwnWritesAndConnectors(t *testing.T) {
	srv := newEventPortal(t)
	tool, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, tool, "sync", "ONCRMDEALADD")
	bindOffline(t, tool, "", "ONCRMDEALADD")

	userDeal := addDeal(t, user, "by a user")
	ownDeal := addDeal(t, tool, "by the tool", bitrix24.WithAuthConnector("sync"))
	plainDeal := addDeal(t, tool, "by the tool without connector")

	var syncIDs []int
	for _, ev := range drain(t, tool, bitrix24.FromConnector("sync")) {
		syncIDs = append(syncIDs, dealIDOf(t, ev))
	}
	assert.Equal(t, []int{userDeal, plainDeal}, syncIDs,
		"the connector's queue hides the writes made with that connector")

	var plainIDs []int
	for _, ev := range drain(t, tool) {
		plainIDs = append(plainIDs, dealIDOf(t, ev))
	}
	assert.Equal(t, []int{userDeal, ownDeal}, plainIDs,
		"the queue without connector hides the application's writes without one")

	last, ok := srv.LastRequest("crm.item.add")
	require.True(t, ok)
	assert.Empty(t, last.Connector)
	for _, r := range srv.RequestLog() {
		if r.Method == "crm.item.add" && r.Connector != "" {
			assert.Equal(t, "sync", r.Connector)
			assert.NotContains(t, r.Params, "auth_connector", "the server takes it out of the params")
		}
	}
}

func TestOfflineMarkFailedKeepsTheRecordAsAnError(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	bad := addDeal(t, user, "poison")
	good := addDeal(t, user, "fine")

	var handled []int
	for ev, err := range app.Event.Offline(context.Background()) {
		require.NoError(t, err)
		if dealIDOf(t, ev) == bad {
			require.NoError(t, app.Event.MarkFailed(context.Background(), ev))
			continue
		}
		handled = append(handled, dealIDOf(t, ev))
	}
	assert.Equal(t, []int{good}, handled)
	recs := srv.OfflineEvents()
	require.Len(t, recs, 1, "clearing the page kept the failed record")
	assert.True(t, recs[0].Error)
	assert.Empty(t, drain(t, app), "failed records are kept apart")

	failed := drain(t, app, bitrix24.OfflineErrored())
	require.Len(t, failed, 1)
	assert.Equal(t, bad, dealIDOf(t, failed[0]))
	assert.Empty(t, srv.OfflineEvents())
}

func TestOfflineClearRemovesOnlyTheGivenRecords(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	ids := []int{addDeal(t, user, "a"), addDeal(t, user, "b"), addDeal(t, user, "c")}

	var seen []bitrix24.OfflineEvent
	for ev, err := range app.Event.Offline(context.Background()) {
		require.NoError(t, err)
		seen = append(seen, ev)
		if len(seen) == 2 {
			break
		}
	}
	require.NoError(t, app.Event.Clear(context.Background(), seen...))
	rest := drain(t, app)
	require.Len(t, rest, 1)
	assert.Equal(t, ids[2], dealIDOf(t, rest[0]))
}

func TestOfflineFilterAndPageSize(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD", "ONCRMDEALUPDATE")
	id := addDeal(t, user, "a")
	updateDeal(t, user, id, "b")

	evs := drain(t, app, bitrix24.OfflineFilter(map[string]any{"=EVENT_NAME": "ONCRMDEALUPDATE"}), bitrix24.OfflinePageSize(1))
	assert.Equal(t, []string{"ONCRMDEALUPDATE"}, eventNames(evs))
	gets := srv.RequestLog().ForMethod("event.offline.get")
	require.NotEmpty(t, gets)
	for _, r := range gets {
		assert.Equal(t, "1", asText(r.Params["limit"]))
	}
	assert.Equal(t, []string{"ONCRMDEALADD"}, eventNames(drain(t, app)))
}

func TestOfflinePollWaitsForNewEvents(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	added := make(chan int, 1)
	go func() {
		// Only once the reader has found the queue empty: a poll, not an assertion.
		for srv.Requests("event.offline.get") < 2 {
			time.Sleep(time.Millisecond)
		}
		var res struct {
			Item struct {
				ID int `json:"id"`
			} `json:"item"`
		}
		_ = user.Call(context.Background(), "crm.item.add", map[string]any{"entityTypeId": dealType, "fields": map[string]any{"title": "late"}}, &res)
		added <- res.Item.ID
	}()
	var got []int
	var end error
	for ev, err := range app.Event.Offline(ctx, bitrix24.OfflinePoll(time.Millisecond)) {
		if err != nil {
			end = err
			break
		}
		got = append(got, dealIDOf(t, ev))
		cancel()
	}
	assert.Equal(t, []int{<-added}, got)
	assert.ErrorIs(t, end, context.Canceled, "a polling walk ends with ctx")
}

func TestOfflineWithoutExtendedModeFailsInsteadOfDeleting(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	addDeal(t, user, "a")
	srv.SetOfflineExtended(false)

	var errs []error
	for _, err := range app.Event.Offline(context.Background()) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], bitrix24.ErrWrongLicense)
	assert.Len(t, srv.OfflineEvents(), 1, "nothing was read with clear=1")
	tok := srv.Token()
	for _, secret := range []string{tok.AccessToken, tok.RefreshToken, srv.OAuthConfig().ClientSecret} {
		assert.NotContains(t, errs[0].Error(), secret)
		assert.NotContains(t, fmt.Sprintf("%+v", errs[0]), secret)
	}
}

func TestOfflineBadOptionsSendNothing(t *testing.T) {
	srv := newEventPortal(t)
	app := srv.NewClient()
	for name, opt := range map[string]bitrix24.OfflineOption{
		"page size":  bitrix24.OfflinePageSize(0),
		"poll":       bitrix24.OfflinePoll(0),
		"connector":  bitrix24.FromConnector(""),
		"filter op":  bitrix24.OfflineFilter(map[string]any{"!EVENT_NAME": "X"}),
		"filter key": bitrix24.OfflineFilter(map[string]any{"PROCESS_ID": "X"}),
		// The reserving get refuses a list value (EventOfflineTable::markEvents).
		"filter list": bitrix24.OfflineFilter(map[string]any{"@ID": []int{1, 2}}),
		"filter map":  bitrix24.OfflineFilter(map[string]any{"ID": map[string]any{"a": 1}}),
	} {
		var errs []error
		for _, err := range app.Event.Offline(context.Background(), opt) {
			errs = append(errs, err)
		}
		require.Len(t, errs, 1, name)
		assert.ErrorIs(t, errs[0], bitrix24.ErrValidation, name)
	}
	assert.Zero(t, srv.Requests(""), "nothing was sent")
	assert.ErrorIs(t, app.Event.Clear(context.Background(), bitrix24.OfflineEvent{ID: 1}), bitrix24.ErrValidation)
	assert.ErrorIs(t, app.Event.MarkFailed(context.Background(), bitrix24.OfflineEvent{ID: 1, ProcessID: "p"}), bitrix24.ErrValidation)
	err := app.Call(context.Background(), "crm.item.add", nil, nil, bitrix24.WithAuthConnector(""))
	assert.ErrorIs(t, err, bitrix24.ErrValidation)
	assert.Zero(t, srv.Requests(""))
}

func TestOfflineOnAClientNoConstructorBuilt(t *testing.T) {
	var c bitrix24.Client
	for _, err := range (&c).Event.Offline(context.Background()) {
		assert.ErrorIs(t, err, bitrix24.ErrValidation)
	}
	assert.ErrorIs(t, c.Event.Bind(context.Background(), bitrix24.EventBinding{Event: "ONCRMDEALADD", Offline: true}), bitrix24.ErrValidation)
}

func TestOfflineSurvivesASnapshotOfThePortal(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	addDeal(t, user, "kept")
	snap := srv.Snapshot()
	require.Len(t, drain(t, app), 1)
	require.NoError(t, srv.Restore(snap))
	assert.Len(t, drain(t, srv.NewClient()), 1, "the restored portal has the record again")
}

// A server that refuses the ">PROCESS_ID" filter is asked without it: the reserved pages
// are still found (their records are told apart here).
func TestOfflineRecoveryWithoutTheProcessFilter(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	ids := []int{addDeal(t, user, "a"), addDeal(t, user, "b"), addDeal(t, user, "c")}
	for _, err := range app.Event.Offline(context.Background(), bitrix24.OfflinePageSize(2)) {
		require.NoError(t, err)
		break
	}
	srv.InjectFault("event.offline.list", 1, bitrix24test.FaultError(400, "ERROR_ARGUMENT", "Filter field not allowed: PROCESS_ID"))
	var got []int
	for _, ev := range drain(t, srv.NewClient(), bitrix24.OfflinePageSize(2)) {
		got = append(got, dealIDOf(t, ev))
	}
	assert.Equal(t, ids, got)
	lists := srv.RequestLog().ForMethod("event.offline.list")
	require.Len(t, lists, 3, "the first walk's list, the refused one, the one without the filter")
	assert.NotContains(t, lists[2].Params["filter"], ">PROCESS_ID")
}

// A server that answers event.offline.clear without clearing: a recovered page is
// yielded once, not forever.
func TestOfflineRecoveredPageIsYieldedOnceEvenIfNotCleared(t *testing.T) {
	srv := newEventPortal(t)
	app, user := srv.NewClient(), srv.NewWebhookClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	ids := []int{addDeal(t, user, "a"), addDeal(t, user, "b")}
	for _, err := range app.Event.Offline(context.Background()) {
		require.NoError(t, err)
		break
	}
	srv.HandleResult("event.offline.clear", true) // answers true, clears nothing
	var got []int
	for ev, err := range srv.NewClient().Event.Offline(context.Background()) {
		require.NoError(t, err)
		got = append(got, dealIDOf(t, ev))
		require.LessOrEqual(t, len(got), 2, "the page came around again")
	}
	assert.Equal(t, ids, got)
}
