package bitrix24test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newCRMSrv(t *testing.T, opts ...Option) *Server {
	t.Helper()
	return newSrv(t, append([]Option{WithScope("crm,placement,user")}, opts...)...)
}

// itemIDs returns the ids of result.items.
func itemIDs(t *testing.T, result any) []int {
	t.Helper()
	m, ok := result.(map[string]any)
	require.True(t, ok, "result is an object: %v", result)
	items, ok := m["items"].([]any)
	require.True(t, ok, "items is a list: %v", m["items"])
	ids := make([]int, len(items))
	for i, it := range items {
		ids[i] = int(it.(map[string]any)["id"].(float64))
	}
	return ids
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestCRMItemListPagesWithStart(t *testing.T) {
	t.Parallel()
	s := newCRMSrv(t)
	require.Equal(t, seq(1, 120), s.SeedCRMItems(2, 120))
	s.SeedCRMItems(1, 3) // another type: not listed

	r := callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2})
	assert.Equal(t, seq(1, 50), itemIDs(t, requireResult(t, r)))
	assert.Equal(t, float64(120), r.body["total"])
	assert.Equal(t, float64(50), r.body["next"])

	r = callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2, "start": 100})
	assert.Equal(t, seq(101, 120), itemIDs(t, requireResult(t, r)))
	assert.Equal(t, float64(120), r.body["total"])
	assert.NotContains(t, r.body, "next", "the last page")

	r = callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2, "start": 500})
	assert.Empty(t, itemIDs(t, requireResult(t, r)))
	assert.Contains(t, string(r.raw), `"result":{"items":[]}`)
}

func TestCRMItemListStartMinusOneDoesNotCount(t *testing.T) {
	t.Parallel()
	s := newCRMSrv(t)
	s.SeedCRMItems(2, 120)
	r := callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2, "start": -1})
	assert.Equal(t, seq(1, 50), itemIDs(t, requireResult(t, r)))
	assert.Equal(t, float64(0), r.body["total"], "huge-data.md: total 0")
	assert.NotContains(t, r.body, "next")
}

func TestCRMItemListFilterOrderSelect(t *testing.T) {
	t.Parallel()
	s := newCRMSrv(t)
	s.SeedCRMItems(2, 120)

	r := callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2, "start": -1,
		"filter": map[string]any{">id": 100}, "order": map[string]any{"id": "ASC"}})
	assert.Equal(t, seq(101, 120), itemIDs(t, requireResult(t, r)))

	r = callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2, "start": -1,
		"filter": map[string]any{"<ID": "4"}, "order": map[string]any{"ID": "desc"}})
	assert.Equal(t, []int{3, 2, 1}, itemIDs(t, requireResult(t, r)), "case-insensitive fields, numeric strings")

	r = callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2,
		"filter": map[string]any{"stageId": "WON", ">=id": 10, "<=id": 20, "!@id": []any{14}}})
	assert.Equal(t, []int{11, 17, 20}, itemIDs(t, requireResult(t, r)), "stage WON is id %% 3 == 2")
	assert.Equal(t, float64(3), r.body["total"])

	r = callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2, "start": -1,
		"filter": map[string]any{"@id": []any{7, 9}}, "select": []any{"title"}})
	requireResult(t, r)
	assert.Contains(t, string(r.raw), `"result":{"items":[{"id":7,"title":"Item #7"},{"id":9,"title":"Item #9"}]}`, "id first, then the selected fields")
}

func TestCRMItemListForm(t *testing.T) {
	t.Parallel()
	s := newCRMSrv(t)
	s.SeedCRMItems(2, 60)
	r := callForm(t, s, "crm.item.list", "entityTypeId=2&filter[>id]=55&order[id]=DESC&start=-1")
	assert.Equal(t, []int{60, 59, 58, 57, 56}, itemIDs(t, requireResult(t, r)))
}

func TestCRMItemListErrors(t *testing.T) {
	t.Parallel()
	s := newCRMSrv(t)
	requireErr(t, callJSON(t, s, "crm.item.list", nil), http.StatusBadRequest, "ERROR_ARGUMENT", "entityTypeId is required")
	requireErr(t, callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2, "filter": map[string]any{">nope": 1}}),
		http.StatusBadRequest, "ERROR_ARGUMENT", "Unknown filter field: >nope")
	requireErr(t, callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2, "order": map[string]any{"id": "UP"}}),
		http.StatusBadRequest, "ERROR_ARGUMENT", "Order direction should be one of {ASC|DESC}")

	noCRM := newSrv(t)
	requireErr(t, callJSON(t, noCRM, "crm.item.list", map[string]any{"entityTypeId": 2}),
		http.StatusUnauthorized, "insufficient_scope", "The request requires higher privileges than provided by the access token")
}

// The cost model: the offset walked plus the count with start >= 0; 50 rows with -1.
func TestCRMItemListCostModel(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newCRMSrv(t, WithClock(clock.Now))
	s.SeedCRMItems(2, 1000)
	s.SetListRowCost(time.Millisecond)

	r := callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2, "start": 900})
	requireResult(t, r)
	tm := r.body["time"].(map[string]any)
	want := (900 + 50 + 1000) * time.Millisecond
	assert.InDelta(t, want.Seconds(), tm["processing"].(float64), 0.05)
	assert.InDelta(t, want.Seconds(), tm["duration"].(float64), 1e-6, "the fake clock did not move: duration is the modelled time")
	assert.Equal(t, want, s.ListTime())

	r = callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2, "start": -1, "filter": map[string]any{">id": 900}})
	requireResult(t, r)
	assert.InDelta(t, 0.05, r.body["time"].(map[string]any)["processing"].(float64), 0.05)
	assert.Equal(t, want+50*time.Millisecond, s.ListTime())
}

func TestCRMItemListCostCountsTowardOperatingLimit(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newCRMSrv(t, WithClock(clock.Now), WithOperationTimeLimit(time.Second))
	s.SeedCRMItems(2, 100)
	s.SetListRowCost(10 * time.Millisecond)
	requireResult(t, callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2, "start": 50})) // 2 s
	requireErr(t, callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2}),
		http.StatusTooManyRequests, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
}

func TestDeleteCRMItem(t *testing.T) {
	t.Parallel()
	s := newCRMSrv(t)
	s.SeedCRMItems(2, 5)
	assert.True(t, s.DeleteCRMItem(2, 3))
	assert.False(t, s.DeleteCRMItem(2, 3))
	assert.Equal(t, []int{1, 2, 4, 5}, itemIDs(t, requireResult(t, callJSON(t, s, "crm.item.list", map[string]any{"entityTypeId": 2}))))
	assert.Equal(t, []int{6}, s.SeedCRMItems(2, 1), "ids are not reused")
}
