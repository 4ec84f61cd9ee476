package bitrix24_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// listShape is how a list method of the fake answers: where its rows are and how their
// ID is named. serveList registers it as a custom method over the given IDs.
type listShape struct {
	rowsKey      string // "": the result is the list
	idField      string // the ID in each row
	filterField  string // the ID in filter and order
	quote        bool   // IDs as strings
	pageSize     int    // 0: 50
	ignoreFilter bool   // answer as if there were no ">ID"/"<ID"
	failFrom     int    // > 0: a page whose cursor (or start) reaches it fails
}

// phpInt is PHP's intval of a request value: the fake hands a custom method the value
// after batch substitution, which may be an array (the deepest value found).
func phpInt(v any) int {
	switch x := v.(type) {
	case string:
		end := 0
		for end < len(x) && (x[end] >= '0' && x[end] <= '9' || end == 0 && x[end] == '-') {
			end++
		}
		n, _ := strconv.Atoi(x[:end])
		return n
	case json.Number:
		n, _ := x.Int64()
		return int(n)
	case float64:
		return int(x)
	case []any:
		return min(len(x), 1)
	case map[string]any:
		return min(len(x), 1)
	}
	return 0
}

func serveList(srv *bitrix24test.Server, method string, ids []int, sh listShape) {
	size := sh.pageSize
	if size == 0 {
		size = bitrix24.PageSize
	}
	srv.Handle(method, func(_ context.Context, r bitrix24test.Request) (any, error) {
		desc := false
		if order, ok := r.Params["order"].(map[string]any); ok {
			desc = strings.EqualFold(fmt.Sprint(order[sh.filterField]), "DESC")
		}
		rows := slices.Clone(ids)
		if desc {
			slices.Reverse(rows)
		}
		filter, _ := r.Params["filter"].(map[string]any)
		bound, hasBound := 0, false
		for op, v := range filter {
			if !sh.ignoreFilter && (op == ">"+sh.filterField || op == "<"+sh.filterField) {
				bound, hasBound = phpInt(v), true
				rows = slices.DeleteFunc(rows, func(id int) bool { return op[0] == '>' && id <= bound || op[0] == '<' && id >= bound })
			}
		}
		if sh.failFrom > 0 && (hasBound && bound >= sh.failFrom || r.Start >= sh.failFrom) {
			return nil, &bitrix24test.Error{Code: "ERROR_ARGUMENT", Description: "the test's failure", Argument: "filter"}
		}
		offset := max(r.Start, 0)
		page := rows[min(offset, len(rows)):min(offset+size, len(rows))]
		out := make([]map[string]any, len(page))
		for i, id := range page {
			var v any = id
			if sh.quote {
				v = strconv.Itoa(id)
			}
			out[i] = map[string]any{sh.idField: v, "TITLE": "row " + strconv.Itoa(id)}
		}
		var res any = out
		if sh.rowsKey != "" {
			res = map[string]any{sh.rowsKey: out}
		}
		if r.Start < 0 {
			return res, nil
		}
		p := bitrix24test.Page{Items: res, Total: len(rows)}
		if offset+len(page) < len(rows) {
			p.Next = offset + len(page)
		}
		return p, nil
	})
}

// gappedIDs are 3, 6, 9, ...: IDs with gaps, so that a cursor off by one shows.
func gappedIDs(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 3 * (i + 1)
	}
	return out
}

// rowIDs walks seq and returns the IDs of its rows (field name matched
// case-insensitively) and the error that ended it, if any.
func rowIDs(t *testing.T, seq func(func(json.RawMessage, error) bool)) ([]int, error) {
	t.Helper()
	var ids []int
	for raw, err := range seq {
		if err != nil {
			return ids, err
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		for k, v := range m {
			if strings.EqualFold(k, "id") || k == "thingId" {
				ids = append(ids, phpInt(fmt.Sprint(v)))
			}
		}
	}
	return ids, nil
}

func TestPackedScanBuiltInFamiliesAndOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		method string
		shape  listShape
		opts   []bitrix24.ListOption
		ref    string // the cursor of the second page of a batch
		first  int    // pages in the first request
	}{
		{"crm.deal.list", listShape{idField: "ID", filterField: "ID", quote: true}, nil, "$result[p0][49][ID]", 4},
		{"crm.contact.list", listShape{idField: "ID", filterField: "ID", quote: true}, nil, "$result[p0][49][ID]", 4},
		{"crm.activity.list", listShape{idField: "ID", filterField: "ID", quote: true}, nil, "$result[p0][49][ID]", 4},
		{"tasks.task.list", listShape{rowsKey: "tasks", idField: "id", filterField: "ID", quote: true}, nil, "$result[p0][tasks][49][id]", 4},
		{"catalog.product.list", listShape{rowsKey: "products", idField: "id", filterField: "id"}, nil, "$result[p0][products][49][id]", 4},
		{"crm.item.productrow.list", listShape{rowsKey: "productRows", idField: "id", filterField: "id"}, nil, "$result[p0][productRows][49][id]", 4},
		{"vendor.things.get", listShape{rowsKey: "things", idField: "thingId", filterField: "THING_ID"},
			[]bitrix24.ListOption{bitrix24.WithRowsKey("things"), bitrix24.WithIDField("thingId", "THING_ID")}, "$result[p0][things][49][thingId]", 4},
		{"vendor.flat.get", listShape{idField: "ID", filterField: "ID"},
			[]bitrix24.ListOption{bitrix24.WithRowsKey("")}, "$result[p0][49][ID]", 4},
		// Neither a family nor WithRowsKey: the first page shows where the rows are.
		{"vendor.records.get", listShape{rowsKey: "records", idField: "ID", filterField: "ID"}, nil, "$result[p0][records][49][ID]", 1},
	}
	for _, tc := range cases {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/desc=%v", tc.method, desc), func(t *testing.T) {
				t.Parallel()
				c, srv, rec := crmPortal(t, 0)
				ids := gappedIDs(423) // 9 pages, the last with 23 rows
				serveList(srv, tc.method, ids, tc.shape)
				opts := append([]bitrix24.ListOption{bitrix24.WithPagesPerRequest(4)}, tc.opts...)
				want := slices.Clone(ids)
				cursor := ">" + tc.shape.filterField
				if desc {
					opts = append(opts, bitrix24.WithDescending())
					slices.Reverse(want)
					cursor = "<" + tc.shape.filterField
				}
				got, err := rowIDs(t, c.Scan(context.Background(), tc.method, nil, opts...))
				require.NoError(t, err)
				assert.Equal(t, want, got)

				bodies := rec.all()
				require.Len(t, bodies, 1+(9-tc.first+3)/4)
				_, _, first := batchCommands(t, bodies[0])
				assert.Len(t, first, tc.first)
				_, methods, queries := batchCommands(t, bodies[1])
				require.Len(t, queries, 4)
				assert.Equal(t, tc.method, methods[1])
				assert.Equal(t, fmt.Sprint(want[tc.first*50-1]), queries[0].Get("filter["+cursor+"]"))
				assert.Equal(t, tc.ref, queries[1].Get("filter["+cursor+"]"))
				assert.Equal(t, strings.Replace(tc.ref, "p0", "p2", 1), queries[3].Get("filter["+cursor+"]"))
			})
		}
	}
}

func TestPackedScanStallsWhenTheMethodIgnoresTheFilter(t *testing.T) {
	t.Parallel()
	c, srv, _ := crmPortal(t, 0)
	serveList(srv, "crm.deal.list", gappedIDs(300), listShape{idField: "ID", filterField: "ID", quote: true, ignoreFilter: true})
	ids, err := rowIDs(t, c.Scan(context.Background(), "crm.deal.list", nil, bitrix24.WithPagesPerRequest(3)))
	require.ErrorIs(t, err, bitrix24.ErrCursorStalled)
	assert.Equal(t, gappedIDs(50), ids, "the first page, then the error instead of its rows again")
	assert.Equal(t, 1, srv.Requests("batch"))
}

// The rows carry "Id" where the walk was told "ID": Scan reads the ID either way, but
// the reference's step must be the exact key, so the batch's later pages (whose
// cursor was the whole row) are dropped and the walk goes on with the row's own key.
func TestPackedScanLearnsTheExactIDKey(t *testing.T) {
	t.Parallel()
	c, srv, rec := crmPortal(t, 0)
	serveList(srv, "vendor.rows.get", gappedIDs(423), listShape{idField: "Id", filterField: "ID"})
	ids, err := rowIDs(t, c.Scan(context.Background(), "vendor.rows.get", nil,
		bitrix24.WithRowsKey(""), bitrix24.WithIDField("ID", "ID"), bitrix24.WithPagesPerRequest(4)))
	require.NoError(t, err)
	assert.Equal(t, gappedIDs(423), ids)
	bodies := rec.all()
	require.Len(t, bodies, 3, "p0 only of the first batch, then pages 2-5 and 6-9")
	_, _, queries := batchCommands(t, bodies[1])
	assert.Equal(t, "$result[p0][49][Id]", queries[1].Get("filter[>ID]"))
}

func TestPackedFailedCommandEndsTheWalk(t *testing.T) {
	t.Parallel()
	for _, walk := range []string{"List", "Scan"} {
		t.Run(walk, func(t *testing.T) {
			t.Parallel()
			c, srv, _ := crmPortal(t, 0)
			ids := gappedIDs(1000)
			// Scan: the page after ID 300 (the 101st row); List: offset 100.
			fail := 300
			if walk == "List" {
				fail = 100
			}
			serveList(srv, "vendor.deals.list", ids, listShape{idField: "ID", filterField: "ID", failFrom: fail})
			seq := c.Scan(context.Background(), "vendor.deals.list", nil, bitrix24.WithPagesPerRequest(5))
			if walk == "List" {
				seq = c.List(context.Background(), "vendor.deals.list", nil, bitrix24.WithPagesPerRequest(5))
			}
			got, err := rowIDs(t, seq)
			assert.Equal(t, ids[:100], got, "the rows before the failed page, once")
			var apiErr *bitrix24.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, "vendor.deals.list", apiErr.Method)
			assert.Equal(t, "ERROR_ARGUMENT", apiErr.Code)
			assert.ErrorIs(t, err, bitrix24.ErrArgument)
			assert.Equal(t, 3, srv.Calls("vendor.deals.list"), "halt: the pages after the failed one did not run")
		})
	}
}

// OPERATION_TIME_LIMIT on the fourth page of a batch (the third pushed the method over
// 1 s): the walk ends with it after three pages, and it says when the method unblocks.
func TestPackedOperationTimeLimitEndsTheWalk(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0), bitrix24test.WithScope("crm"),
		bitrix24test.WithOperationTimeLimit(time.Second))
	t.Cleanup(srv.Close)
	srv.SeedCRMItems(2, 1000)
	srv.SetMethodCost("crm.item.list", 400*time.Millisecond)
	c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithRateLimit(0, 0))
	require.NoError(t, err)
	ids := collectUntil(t, c.Scan(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2}, bitrix24.WithPagesPerRequest(10)))
	assert.Equal(t, 150, ids.rows)
	require.ErrorIs(t, ids.err, bitrix24.ErrOperationTimeLimit)
	var apiErr *bitrix24.APIError
	require.True(t, errors.As(ids.err, &apiErr))
	assert.Equal(t, "crm.item.list", apiErr.Method)
	assert.False(t, apiErr.ResetAt.IsZero(), "the reset time the earlier pages reported")
}

type walked struct {
	rows int
	err  error
}

func collectUntil(t *testing.T, seq func(func(json.RawMessage, error) bool)) walked {
	t.Helper()
	var w walked
	for _, err := range seq {
		if err != nil {
			w.err = err
			continue
		}
		require.NoError(t, w.err, "nothing after the error")
		w.rows++
	}
	return w
}

// A method whose pages hold 30 rows: List plans its offsets by the step the first page
// showed.
func TestPackedListFollowsTheServersPageSize(t *testing.T) {
	t.Parallel()
	c, srv, rec := crmPortal(t, 0)
	serveList(srv, "vendor.small.list", gappedIDs(200), listShape{idField: "ID", filterField: "ID", pageSize: 30})
	got, err := rowIDs(t, c.List(context.Background(), "vendor.small.list", nil, bitrix24.WithPagesPerRequest(3)))
	require.NoError(t, err)
	assert.Equal(t, gappedIDs(200), got)
	bodies := rec.all()
	require.Len(t, bodies, 3, "30 rows, then 90 and 80 (the offsets stop at the total)")
	_, _, queries := batchCommands(t, bodies[2])
	require.Len(t, queries, 3)
	assert.Equal(t, []string{"120", "150", "180"}, []string{queries[0].Get("start"), queries[1].Get("start"), queries[2].Get("start")})
}

// A page whose "next" is not the offset the following command asked for (rows went
// away under the walk): the rest of the batch is dropped and the walk follows "next".
func TestPackedListFollowsNextWhenItMoves(t *testing.T) {
	t.Parallel()
	c, srv, rec := crmPortal(t, 0)
	ids := gappedIDs(300)
	srv.Handle("vendor.moving.list", func(_ context.Context, r bitrix24test.Request) (any, error) {
		size := 50
		if r.Start == 100 {
			size = 40 // this page ends early: the server's next is 140, not 150
		}
		page := ids[min(r.Start, len(ids)):min(r.Start+size, len(ids))]
		rows := make([]map[string]any, len(page))
		for i, id := range page {
			rows[i] = map[string]any{"ID": id}
		}
		p := bitrix24test.Page{Items: rows, Total: len(ids)}
		if r.Start+len(page) < len(ids) {
			p.Next = r.Start + len(page)
		}
		return p, nil
	})
	got, err := rowIDs(t, c.List(context.Background(), "vendor.moving.list", nil, bitrix24.WithPagesPerRequest(4)))
	require.NoError(t, err)
	assert.Equal(t, ids, got)
	bodies := rec.all()
	require.Len(t, bodies, 3)
	_, _, queries := batchCommands(t, bodies[2])
	require.NotEmpty(t, queries)
	assert.Equal(t, "140", queries[0].Get("start"))
}

// A "next" that does not advance inside a packed batch fails with ErrCursorStalled
// after the rows before it, instead of looping.
func TestPackedListStallsWhenNextDoesNotAdvance(t *testing.T) {
	t.Parallel()
	c, srv, _ := crmPortal(t, 0)
	ids := gappedIDs(300)
	srv.Handle("vendor.stuck.list", func(_ context.Context, r bitrix24test.Request) (any, error) {
		page := ids[min(r.Start, len(ids)):min(r.Start+50, len(ids))]
		rows := make([]map[string]any, len(page))
		for i, id := range page {
			rows[i] = map[string]any{"ID": id}
		}
		next := r.Start + 50
		if r.Start == 100 {
			next = 50 // back to an earlier page
		}
		return bitrix24test.Page{Items: rows, Total: len(ids), Next: next}, nil
	})
	got, err := rowIDs(t, c.List(context.Background(), "vendor.stuck.list", nil, bitrix24.WithPagesPerRequest(4)))
	require.ErrorIs(t, err, bitrix24.ErrCursorStalled)
	assert.Equal(t, ids[:150], got)
	assert.Equal(t, 1, srv.Requests("batch"))
}
