package bitrix24_test

// WithPagesPerRequest against the fake portal over HTTPS on loopback: crm.item.list,
// and custom methods (bitrix24test.Handle) with the shapes of the other built-in
// families, which receive their cursor after the fake substituted the batch references
// (§8.2, the deepest value found when a path step is missing).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// batchCommands decodes the "cmd" of a recorded batch body: key order kept, each
// command split into its method and its query as PHP reads it.
func batchCommands(t *testing.T, body map[string]any) (keys []string, methods []string, queries []url.Values) {
	t.Helper()
	cmd, ok := body["cmd"].(map[string]any)
	require.True(t, ok, "not a batch: %v", body)
	for i := 0; ; i++ {
		v, ok := cmd[fmt.Sprintf("p%d", i)]
		if !ok {
			break
		}
		method, query, _ := strings.Cut(v.(string), "?")
		q, err := url.ParseQuery(query)
		require.NoError(t, err)
		keys, methods, queries = append(keys, fmt.Sprintf("p%d", i)), append(methods, method), append(queries, q)
	}
	require.Len(t, keys, len(cmd), "keys p0, p1, ... in order")
	return keys, methods, queries
}

func TestScanPackedExportsTenThousandRowsInFiveRequests(t *testing.T) {
	// Not parallel: 10,000 rows; see TestScanExportsTenThousandRowsWithoutCounting.
	c, srv, rec := crmPortal(t, 10_000)
	params := map[string]any{"entityTypeId": 2, "select": []string{"id", "title"}}
	ids := collect(t, bitrix24.Rows[crmRow](c.Scan(context.Background(), "crm.item.list", params, bitrix24.WithPagesPerRequest(50))))
	assert.Equal(t, idRange(1, 10_000), ids)

	bodies := rec.all()
	require.Len(t, bodies, 5, "200 full pages and the empty one, 50 a request")
	assert.Equal(t, 5, srv.Requests("batch"))
	assert.Zero(t, srv.Requests("crm.item.list"), "every page went in a batch")
	assert.Equal(t, 250, srv.Calls("crm.item.list"), "the 49 commands after the empty page ran too")
	for r, b := range bodies {
		assert.Equal(t, json.Number("1"), b["halt"], "request %d", r)
		_, methods, queries := batchCommands(t, b)
		require.Len(t, queries, 50)
		for i, q := range queries {
			assert.Equal(t, "crm.item.list", methods[i])
			assert.Equal(t, "-1", q.Get("start"))
			assert.Equal(t, "ASC", q.Get("order[id]"))
			assert.Equal(t, "2", q.Get("entityTypeId"))
			switch {
			case i > 0:
				assert.Equal(t, fmt.Sprintf("$result[p%d][items][49][id]", i-1), q.Get("filter[>id]"), "request %d page %d", r, i)
			case r == 0:
				assert.False(t, q.Has("filter[>id]"))
			default:
				assert.Equal(t, ids[r*2500-1].String(), q.Get("filter[>id]"), "request %d", r)
			}
		}
	}
}

func TestListPackedSendsTheOffsetsOnceTheTotalIsKnown(t *testing.T) {
	// Not parallel: 10,000 rows.
	c, srv, rec := crmPortal(t, 10_000)
	ids := collect(t, bitrix24.Rows[crmRow](c.List(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2}, bitrix24.WithPagesPerRequest(50))))
	assert.Equal(t, idRange(1, 10_000), ids)
	bodies := rec.all()
	require.Len(t, bodies, 5, "the first page alone, then 199 offsets in 4 batches")
	assert.Equal(t, 1, srv.Requests("crm.item.list"))
	assert.Equal(t, 4, srv.Requests("batch"))
	assert.Equal(t, json.Number("0"), bodies[0]["start"])
	offset := 50
	for _, b := range bodies[1:] {
		_, _, queries := batchCommands(t, b)
		for _, q := range queries {
			assert.Equal(t, fmt.Sprint(offset), q.Get("start"))
			offset += 50
		}
	}
	assert.Equal(t, 10_000, offset, "no offset beyond the total was asked for")
}

// The fake feeds every command after a short page the deepest value it found (the
// short page's items, or [] after an empty one): crm.item.list reads an array bound as
// 1 or 0 and answers rows from the start of the table, which must never be yielded.
func TestPackedShortPageEndsTheWalk(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ rows, pages int }{
		{0, 50}, {1, 50}, {49, 50}, {50, 50}, {60, 50}, {130, 3}, {150, 3}, {2450, 50}, {2499, 50}, {2500, 50}, {2551, 50}, {777, 2},
	} {
		t.Run(fmt.Sprintf("rows=%d/n=%d", tc.rows, tc.pages), func(t *testing.T) {
			t.Parallel()
			c, srv, _ := crmPortal(t, tc.rows)
			opt := bitrix24.WithPagesPerRequest(tc.pages)
			ids := collect(t, bitrix24.Rows[crmRow](c.Scan(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2}, opt)))
			assert.Equal(t, idRange(1, tc.rows), ids, "Scan")
			pages := tc.rows/50 + 1
			assert.Equal(t, (pages+tc.pages-1)/tc.pages, srv.Requests("batch"), "Scan requests")

			srv.ResetRequestLog()
			ids = collect(t, bitrix24.Rows[crmRow](c.List(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2}, opt)))
			assert.Equal(t, idRange(1, tc.rows), ids, "List")
		})
	}
}

func TestPackedDescending(t *testing.T) {
	t.Parallel()
	c, _, rec := crmPortal(t, 380)
	ids := collect(t, bitrix24.Rows[crmRow](c.Scan(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2},
		bitrix24.WithDescending(), bitrix24.WithPagesPerRequest(3))))
	want := idRange(1, 380)
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	assert.Equal(t, want, ids)
	bodies := rec.all()
	require.Len(t, bodies, 3, "8 pages, 3 a request")
	_, _, queries := batchCommands(t, bodies[1])
	assert.Equal(t, "DESC", queries[0].Get("order[id]"))
	assert.Equal(t, "231", queries[0].Get("filter[<id]"))
	assert.Equal(t, "$result[p0][items][49][id]", queries[1].Get("filter[<id]"))
}

func TestPackedRefusesABadCountBeforeSending(t *testing.T) {
	t.Parallel()
	c, srv, _ := crmPortal(t, 10)
	for _, n := range []int{0, -1, 51, 1000} {
		for name, seq := range map[string]func(func(json.RawMessage, error) bool){
			"List": c.List(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2}, bitrix24.WithPagesPerRequest(n)),
			"Scan": c.Scan(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2}, bitrix24.WithPagesPerRequest(n)),
		} {
			calls := 0
			for row, err := range seq {
				calls++
				assert.Nil(t, row)
				require.ErrorIs(t, err, bitrix24.ErrValidation, "%s n=%d", name, n)
				assert.Contains(t, err.Error(), "WithPagesPerRequest")
			}
			assert.Equal(t, 1, calls, "%s n=%d: the error first, and nothing more", name, n)
		}
	}
	assert.Zero(t, len(srv.RequestLog()), "nothing was sent, not even a token refresh")
}

func TestPackedBreakSendsNothingMore(t *testing.T) {
	t.Parallel()
	for name, walk := range map[string]func(*bitrix24.Client) func(func(json.RawMessage, error) bool){
		"List": func(c *bitrix24.Client) func(func(json.RawMessage, error) bool) {
			return c.List(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2}, bitrix24.WithPagesPerRequest(4))
		},
		"Scan": func(c *bitrix24.Client) func(func(json.RawMessage, error) bool) {
			return c.Scan(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2}, bitrix24.WithPagesPerRequest(4))
		},
	} {
		for _, stop := range []int{1, 199, 200, 250} {
			t.Run(fmt.Sprintf("%s/after=%d", name, stop), func(t *testing.T) {
				t.Parallel()
				c, srv, _ := crmPortal(t, 1000)
				n := 0
				for _, err := range walk(c) {
					require.NoError(t, err)
					if n++; n == stop {
						break
					}
				}
				// Scan: 200 rows a request. List: the first page alone, then 200 a request.
				want := (stop + 199) / 200
				if name == "List" {
					want = 1 + (max(stop-50, 0)+199)/200
				}
				assert.Equal(t, want, srv.Requests("")-srv.Requests("oauth/token"))
			})
		}
	}
}

func TestPackedPagesAreRetriedLikeReads(t *testing.T) {
	t.Parallel()
	c, srv, _ := crmPortal(t, 320)
	srv.InjectFault("batch", 1, bitrix24test.FaultHTML(http.StatusBadGateway))
	ids := collect(t, bitrix24.Rows[crmRow](c.Scan(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2}, bitrix24.WithPagesPerRequest(5))))
	assert.Equal(t, idRange(1, 320), ids)
	assert.Equal(t, 3, srv.Requests("batch"), "the 502 and 2 batches of 5 pages")

	// A batch of the caller's own is still never sent twice.
	srv.InjectFault("batch", 1, bitrix24test.FaultHTML(http.StatusBadGateway))
	_, err := c.Batch(context.Background(), false, bitrix24.BatchCommand{Key: "a", Method: "crm.item.list", Params: map[string]any{"entityTypeId": 2}})
	require.Error(t, err)
	assert.Equal(t, 4, srv.Requests("batch"))
}

// Params a batch command cannot carry (two keys PHP reads as one) are refused before
// the first page, which List would otherwise send alone as JSON.
func TestPackedRefusesParamsABatchCannotCarry(t *testing.T) {
	t.Parallel()
	c, srv, _ := crmPortal(t, 100)
	params := map[string]any{"entityTypeId": 2, "ui.theme": "a", "ui_theme": "b"}
	for name, seq := range map[string]func(func(json.RawMessage, error) bool){
		"List": c.List(context.Background(), "crm.item.list", params, bitrix24.WithPagesPerRequest(2)),
		"Scan": c.Scan(context.Background(), "crm.item.list", params, bitrix24.WithPagesPerRequest(2)),
	} {
		for _, err := range seq {
			require.ErrorIs(t, err, bitrix24.ErrValidation, name)
		}
	}
	assert.Zero(t, srv.Requests("crm.item.list")+srv.Requests("batch"))
}
