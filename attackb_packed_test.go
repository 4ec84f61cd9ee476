package bitrix24_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// A method whose pages hold more rows than PageSize: the reference "[49]" of the next
// command points inside the page, so its rows would come twice; the packed walk must
// still yield each row once, in order, as the unpacked one does.
func TestAttackPackedScanPagesLongerThanFifty(t *testing.T) {
	t.Parallel()
	for _, quote := range []bool{false, true} {
		c, srv, _ := crmPortal(t, 0)
		ids := gappedIDs(500)
		serveList(srv, "vendor.long.list", ids, listShape{idField: "ID", filterField: "ID", pageSize: 70, quote: quote})
		for _, pages := range []int{1, 4, 50} {
			got, err := rowIDs(t, c.Scan(context.Background(), "vendor.long.list", nil, bitrix24.WithPagesPerRequest(pages)))
			require.NoError(t, err)
			assert.Equal(t, ids, got, "%d pages a request", pages)
		}
	}
}

// Params that a batch command would change (a null, an empty list or object: the query
// string drops them) are refused before anything is sent, as Batch refuses them: not
// after List sent its first page as JSON and yielded its rows.
func TestAttackPackedParamsABatchWouldChangeRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	c, srv, _ := crmPortal(t, 120)
	for _, params := range []map[string]any{
		{"entityTypeId": 2, "filter": map[string]any{"assignedById": nil}},
		{"entityTypeId": 2, "filter": map[string]any{"@id": []int{}}},
		{"entityTypeId": 2, "select": []string{}},
		{"entityTypeId": 2, "filter": map[string]any{}, "extra": map[string]any{}},
	} {
		for name, seq := range map[string]func() (json.RawMessage, error){
			"List": first(c.List(context.Background(), "crm.item.list", params, bitrix24.WithPagesPerRequest(3))),
			"Scan": first(c.Scan(context.Background(), "crm.item.list", params, bitrix24.WithPagesPerRequest(3))),
		} {
			_, err := seq()
			require.ErrorIs(t, err, bitrix24.ErrValidation, "%s %v", name, params)
		}
	}
	assert.Empty(t, srv.RequestLog())
}

// Each page may answer up to the response limit, as it would alone: a packed request of
// n pages is bounded by the limit times n, so a walk that works one page a request
// works packed (issue 21's promise for automatic batches, kept for packed walks).
func TestAttackPackedWalkSucceedsWhereTheUnpackedOneDoes(t *testing.T) {
	t.Parallel()
	_, srv, _ := crmPortal(t, 300)
	probe := srv.NewClient()
	var page json.RawMessage
	require.NoError(t, probe.Call(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2}, &page))
	limit := int64(len(page)) + 4096 // one page and its envelope
	c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()),
		bitrix24.WithRateLimit(0, 0), bitrix24.WithMaxResponseSize(limit))
	require.NoError(t, err)
	params := map[string]any{"entityTypeId": 2}
	want, err := rowIDs(t, c.Scan(context.Background(), "crm.item.list", params))
	require.NoError(t, err)
	require.Len(t, want, 300)
	for _, pages := range []int{3, 50} {
		got, err := rowIDs(t, c.Scan(context.Background(), "crm.item.list", params, bitrix24.WithPagesPerRequest(pages)))
		require.NoError(t, err, "Scan, %d pages", pages)
		assert.Equal(t, want, got)
		got, err = rowIDs(t, c.List(context.Background(), "crm.item.list", params, bitrix24.WithPagesPerRequest(pages)))
		require.NoError(t, err, "List, %d pages", pages)
		assert.Equal(t, want, got)
	}
	// A page that alone would exceed the limit fails packed too.
	small, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()),
		bitrix24.WithRateLimit(0, 0), bitrix24.WithMaxResponseSize(int64(len(page))/2))
	require.NoError(t, err)
	for _, pages := range []int{1, 3} {
		_, err = rowIDs(t, small.Scan(context.Background(), "crm.item.list", params, bitrix24.WithPagesPerRequest(pages)))
		require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse, "%d pages", pages)
	}
}

// A Batch of 60 commands of a method that crosses its budget in the first chunk: the
// first chunk's refused commands say when the method unblocks, and the second chunk is
// held (here refused at once: ctx cannot wait), never sent to be refused.
func TestAttackLongBatchUnderTheBudget(t *testing.T) {
	t.Parallel()
	srv := budgetPortal(t)
	synctest.Test(t, func(t *testing.T) {
		c := budgetClient(t, srv)
		cmds := make([]bitrix24.BatchCommand, 60)
		for i := range cmds {
			cmds[i] = bitrix24.BatchCommand{Key: fmt.Sprintf("k%d", i), Method: "User.Option.Get"}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		before := srv.Calls("batch")
		res, err := c.Batch(ctx, false, cmds...)
		require.ErrorIs(t, err, bitrix24.ErrOperationTimeLimit)
		assert.Equal(t, before+1, srv.Calls("batch"), "the second chunk was not sent")
		require.NotNil(t, res)
		assert.Len(t, res.Results, 5, "the fifth crosses the limit and completes")
		require.Len(t, res.Errors, 45)
		for _, e := range res.Errors {
			assert.ErrorIs(t, e, bitrix24.ErrOperationTimeLimit)
			assert.False(t, e.ResetAt.IsZero())
			assert.Equal(t, "User.Option.Get", e.Method)
		}
	})
}
