package bitrix24test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newEventSrv has crm for the app and the webhook, and an offline ONCRMDEALADD binding
// of the app; the webhook (a user) adds n deals.
func newEventSrv(t *testing.T, n int) *Server {
	t.Helper()
	s := newSrv(t, WithScope("crm,user"), WithWebhookScope("crm,user"))
	requireResult(t, callJSON(t, s, "event.bind", map[string]any{"event": "ONCRMDEALADD", "event_type": "offline"}))
	for range n {
		requireResult(t, hookJSON(t, s, "crm.item.add", map[string]any{"entityTypeId": 2, "fields": map[string]any{"title": "x"}}))
	}
	return s
}

func TestOfflineGetDefaultsToDeleteOnRead(t *testing.T) {
	s := newEventSrv(t, 2)
	res := requireResult(t, callJSON(t, s, "event.offline.get", nil)).(map[string]any)
	assert.Nil(t, res["process_id"], "clear=1 (the default) returns no process_id")
	evs := res["events"].([]any)
	require.Len(t, evs, 2)
	first := evs[0].(map[string]any)
	assert.Equal(t, "1", first["ID"])
	assert.Equal(t, "ONCRMDEALADD", first["EVENT_NAME"])
	assert.Equal(t, map[string]any{"FIELDS": map[string]any{"ID": float64(1)}}, first["EVENT_DATA"])
	assert.Equal(t, map[string]any{"user_id": float64(1)}, first["EVENT_ADDITIONAL"])
	assert.Len(t, first["MESSAGE_ID"], 32)
	assert.Empty(t, s.OfflineEvents(), "read and deleted")
}

func TestOfflineGetReservesUnderAProcessID(t *testing.T) {
	s := newEventSrv(t, 3)
	res := requireResult(t, callJSON(t, s, "event.offline.get", map[string]any{"clear": 0, "limit": 2})).(map[string]any)
	pid, _ := res["process_id"].(string)
	require.Len(t, pid, 32)
	require.Len(t, res["events"], 2)

	// Hidden from a new get; shown again to a get naming the process_id.
	other := requireResult(t, callJSON(t, s, "event.offline.get", map[string]any{"clear": 0})).(map[string]any)
	require.Len(t, other["events"], 1)
	again := requireResult(t, callJSON(t, s, "event.offline.get", map[string]any{"clear": 0, "process_id": pid})).(map[string]any)
	assert.Equal(t, pid, again["process_id"])
	assert.Equal(t, res["events"], again["events"])

	// event.offline.list shows the reservation.
	list := requireResult(t, callJSON(t, s, "event.offline.list", map[string]any{"filter": map[string]any{">PROCESS_ID": ""}})).([]any)
	require.Len(t, list, 3)
	assert.Equal(t, pid, list[0].(map[string]any)["PROCESS_ID"])
	assert.Equal(t, "0", list[0].(map[string]any)["ERROR"])

	requireErr(t, callJSON(t, s, "event.offline.clear", map[string]any{"process_id": pid, "message_id": []string{"short"}}),
		http.StatusBadRequest, "ERROR_ARGUMENT", "Value must be array of MESSAGE_ID values")
	requireErr(t, callJSON(t, s, "event.offline.clear", nil), http.StatusBadRequest, "ERROR_ARGUMENT", "Argument 'PROCESS_ID' is null or empty")
	requireResult(t, callJSON(t, s, "event.offline.clear", map[string]any{"process_id": pid}))
	assert.Len(t, s.OfflineEvents(), 1, "the page went, the other reservation stayed")
}

func TestOfflineErrorMarksAndHides(t *testing.T) {
	s := newEventSrv(t, 1)
	res := requireResult(t, callJSON(t, s, "event.offline.get", map[string]any{"clear": 0})).(map[string]any)
	pid := res["process_id"].(string)
	msg := res["events"].([]any)[0].(map[string]any)["MESSAGE_ID"]
	requireErr(t, callJSON(t, s, "event.offline.error", map[string]any{"process_id": pid, "message_id": "x"}),
		http.StatusBadRequest, "ERROR_ARGUMENT", "Value must be array of MESSAGE_ID values")
	requireResult(t, callJSON(t, s, "event.offline.error", map[string]any{"process_id": pid, "message_id": []any{msg}}))
	recs := s.OfflineEvents()
	require.Len(t, recs, 1)
	assert.True(t, recs[0].Error)
	assert.Empty(t, recs[0].ProcessID)
	plain := requireResult(t, callJSON(t, s, "event.offline.get", map[string]any{"clear": 0})).(map[string]any)
	assert.Empty(t, plain["events"])
	errs := requireResult(t, callJSON(t, s, "event.offline.get", map[string]any{"clear": 0, "error": 1})).(map[string]any)
	assert.Len(t, errs["events"], 1)
}

func TestOfflineMethodsRefuse(t *testing.T) {
	s := newEventSrv(t, 1)
	for _, m := range []string{"event.offline.get", "event.offline.list", "event.offline.clear", "event.offline.error", "event.bind", "event.get"} {
		r := hookJSON(t, s, m, nil)
		assert.Equal(t, "WRONG_AUTH_TYPE", r.errCode(), m)
	}
	s.AddUser(5, false)
	tok := s.OAuthConfigForUser(5).Token.AccessToken
	requireErr(t, callJSONAs(t, s, tok, "event.offline.get", nil), http.StatusForbidden, "ACCESS_DENIED", "Access denied!")
	requireErr(t, callJSONAs(t, s, tok, "event.bind", map[string]any{"event": "ONCRMDEALADD", "event_type": "offline"}),
		http.StatusForbidden, "ACCESS_DENIED", "Access denied! Offline events binding requires administrator access rights")
	s.SetOfflineExtended(false)
	requireErr(t, callJSON(t, s, "event.offline.get", map[string]any{"clear": 0}), http.StatusForbidden, "WRONG_LICENSE",
		"This feature is not enabled for the current license: extended offline events handling")
	requireErr(t, callJSON(t, s, "event.offline.get", map[string]any{"filter": map[string]any{"!ID": 1}}),
		http.StatusBadRequest, "ERROR_ARGUMENT", "Filter operation not allowed: !")
	assert.Len(t, s.OfflineEvents(), 1)
}

func TestOfflineRecordsMergePerObject(t *testing.T) {
	s := newSrv(t, WithScope("crm"), WithWebhookScope("crm"))
	requireResult(t, callJSON(t, s, "event.bind", map[string]any{"event": "ONCRMDEALUPDATE", "event_type": "offline"}))
	requireResult(t, hookJSON(t, s, "crm.item.add", map[string]any{"entityTypeId": 2}))
	for range 3 {
		requireResult(t, hookJSON(t, s, "crm.item.update", map[string]any{"entityTypeId": 2, "id": 1, "fields": map[string]any{"title": "t"}}))
	}
	assert.Len(t, s.OfflineEvents(), 1, "three updates of one deal: one record")
	requireErr(t, hookJSON(t, s, "crm.item.update", map[string]any{"entityTypeId": 2, "id": 99}), http.StatusBadRequest, "NOT_FOUND", "Element not found")
	requireResult(t, hookJSON(t, s, "crm.item.delete", map[string]any{"entityTypeId": 2, "id": 1}))
	requireErr(t, hookJSON(t, s, "crm.item.delete", map[string]any{"entityTypeId": 2, "id": 1}), http.StatusBadRequest, "NOT_FOUND", "Element not found")
}

// EventOfflineTable::markEvents takes scalar filter values only: a reserving get with a
// list ("@ID": [...]) is 400 ERROR_ARGUMENT naming the key (the docs' error table for
// event.offline.get lists it) and reserves nothing; a get naming its process_id, and
// event.offline.list, read with the filter as given.
func TestOfflineGetRefusesListFilterValues(t *testing.T) {
	s := newEventSrv(t, 3)
	r := callJSON(t, s, "event.offline.get", map[string]any{"clear": 0, "filter": map[string]any{"@ID": []int{1, 2}}})
	requireErr(t, r, http.StatusBadRequest, "ERROR_ARGUMENT", "The value of an argument '@ID' has an invalid type")
	assert.Equal(t, "@ID", r.body["argument"])
	for _, e := range s.OfflineEvents() {
		assert.Empty(t, e.ProcessID, "nothing was reserved")
	}

	res := requireResult(t, callJSON(t, s, "event.offline.get", map[string]any{"clear": 0, "limit": 3})).(map[string]any)
	pid := res["process_id"].(string)
	again := requireResult(t, callJSON(t, s, "event.offline.get",
		map[string]any{"clear": 0, "process_id": pid, "filter": map[string]any{"@ID": []int{1, 2}}})).(map[string]any)
	assert.Len(t, again["events"], 2)
	list := requireResult(t, callJSON(t, s, "event.offline.list", map[string]any{"filter": map[string]any{"@ID": []int{2, 3}}})).([]any)
	assert.Len(t, list, 2)
}

// event.offline.clear with an empty id or message_id list: the source's $listIds stays
// false, so the whole page is deleted, as without the parameter.
func TestOfflineClearEmptyListClearsThePage(t *testing.T) {
	for _, param := range []string{"id", "message_id"} {
		s := newEventSrv(t, 3)
		res := requireResult(t, callJSON(t, s, "event.offline.get", map[string]any{"clear": 0, "limit": 2})).(map[string]any)
		pid := res["process_id"].(string)
		requireResult(t, callJSON(t, s, "event.offline.clear", map[string]any{"process_id": pid, param: []string{}}))
		left := s.OfflineEvents()
		require.Len(t, left, 1, param)
		assert.Empty(t, left[0].ProcessID, "%s: only the page went", param)
	}
}
