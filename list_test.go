package bitrix24_test

// List and Scan against the fake portal's crm.item.list (real HTTPS on loopback), and
// against canned answers for the shapes and failures the fake does not produce.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// sentBodies records the JSON body of every request that goes through it.
type sentBodies struct {
	next   http.RoundTripper
	mu     sync.Mutex
	bodies []map[string]any
}

func (s *sentBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		data, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(data))
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		_ = d.Decode(&m)
		s.mu.Lock()
		s.bodies = append(s.bodies, m)
		s.mu.Unlock()
	}
	return s.next.RoundTrip(req)
}

func (s *sentBodies) all() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.bodies...)
}

// crmPortal starts a fake portal with the crm scope and n items of type 2 (deals), and
// a client whose requests are recorded.
func crmPortal(t testing.TB, n int, opts ...bitrix24.Option) (*bitrix24.Client, *bitrix24test.Server, *sentBodies) {
	t.Helper()
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0), bitrix24test.WithScope("crm,placement,user"))
	t.Cleanup(srv.Close)
	srv.SeedCRMItems(2, n)
	hc := srv.Client()
	rec := &sentBodies{next: hc.Transport}
	hc.Transport = rec
	c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), append([]bitrix24.Option{bitrix24.WithHTTPClient(hc),
		bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(3, 0, 0)}, opts...)...)
	require.NoError(t, err)
	return c, srv, rec
}

type crmRow struct {
	ID    bitrix24.ID `json:"id"`
	Title string      `json:"title"`
	Stage string      `json:"stageId"`
}

func collect(t *testing.T, seq func(func(crmRow, error) bool)) []bitrix24.ID {
	t.Helper()
	var ids []bitrix24.ID
	for row, err := range seq {
		require.NoError(t, err)
		ids = append(ids, row.ID)
	}
	return ids
}

func idRange(from, to int) []bitrix24.ID {
	var out []bitrix24.ID
	for i := from; i <= to; i++ {
		out = append(out, bitrix24.ID(i))
	}
	return out
}

func TestScanExportsTenThousandRowsWithoutCounting(t *testing.T) {
	// Not parallel: the CPU of 200 round trips stays out of the real-clock tests,
	// which run in the parallel phase.
	c, srv, rec := crmPortal(t, 10_000)
	params := map[string]any{"entityTypeId": 2, "select": []string{"id", "title"}}
	ids := collect(t, bitrix24.Rows[crmRow](c.Scan(context.Background(), "crm.item.list", params)))
	assert.Equal(t, idRange(1, 10_000), ids)

	bodies := rec.all()
	assert.LessOrEqual(t, len(bodies), 201)
	assert.Equal(t, len(bodies), srv.Requests("crm.item.list"))
	for i, b := range bodies {
		assert.Equal(t, json.Number("-1"), b["start"], "request %d", i)
		assert.Equal(t, map[string]any{"id": "ASC"}, b["order"], "request %d", i)
		if i == 0 {
			assert.NotContains(t, b, "filter")
			continue
		}
		assert.Equal(t, map[string]any{">id": json.Number(ids[i*50-1].String())}, b["filter"], "request %d", i)
	}
	assert.Equal(t, map[string]any{"entityTypeId": 2, "select": []string{"id", "title"}}, params, "the caller's params are not modified")
}

func TestListExportsTenThousandRowsInTwoHundredRequests(t *testing.T) {
	// Not parallel: the CPU of 200 round trips stays out of the real-clock tests,
	// which run in the parallel phase.
	c, srv, rec := crmPortal(t, 10_000)
	ids := collect(t, bitrix24.Rows[crmRow](c.List(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2})))
	assert.Equal(t, idRange(1, 10_000), ids)
	bodies := rec.all()
	require.Len(t, bodies, 200)
	assert.Equal(t, 200, srv.Requests("crm.item.list"))
	for i, b := range bodies {
		assert.Equal(t, json.Number(bitrix24.ID(i*50).String()), b["start"], "request %d", i)
	}
}

func TestBreakingOutSendsNoFurtherRequest(t *testing.T) {
	t.Parallel()
	for name, walk := range map[string]func(*bitrix24.Client) func(func(json.RawMessage, error) bool){
		"List": func(c *bitrix24.Client) func(func(json.RawMessage, error) bool) {
			return c.List(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2})
		},
		"Scan": func(c *bitrix24.Client) func(func(json.RawMessage, error) bool) {
			return c.Scan(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2})
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, srv, _ := crmPortal(t, 10_000)
			n := 0
			for _, err := range walk(c) {
				require.NoError(t, err)
				if n++; n == 75 {
					break
				}
			}
			assert.Equal(t, 2, srv.Requests("crm.item.list"))
		})
	}
}

func TestScanDescendingAndMergedFilter(t *testing.T) {
	t.Parallel()
	c, _, rec := crmPortal(t, 130)
	ctx := context.Background()

	ids := collect(t, bitrix24.Rows[crmRow](c.Scan(ctx, "crm.item.list", map[string]any{"entityTypeId": 2}, bitrix24.WithDescending())))
	want := idRange(1, 130)
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	assert.Equal(t, want, ids)
	bodies := rec.all()
	require.Len(t, bodies, 3)
	assert.Equal(t, map[string]any{"id": "DESC"}, bodies[0]["order"])
	assert.Equal(t, map[string]any{"<id": json.Number("81")}, bodies[1]["filter"])

	// The caller's filter stays; a ">id" of its own bounds the first page (resume).
	type params struct {
		EntityTypeID int            `json:"entityTypeId"`
		Filter       map[string]any `json:"filter"`
		Order        map[string]any `json:"order"`
	}
	p := params{EntityTypeID: 2, Filter: map[string]any{"stageId": "WON", ">id": 20}, Order: map[string]any{"ID": "asc"}}
	var stages []string
	ids = nil
	for row, err := range bitrix24.Rows[crmRow](c.Scan(ctx, "crm.item.list", p)) {
		require.NoError(t, err)
		ids, stages = append(ids, row.ID), append(stages, row.Stage)
	}
	require.Len(t, ids, 36, "ids 23, 26, ..., 128")
	assert.Equal(t, bitrix24.ID(23), ids[0])
	assert.Equal(t, bitrix24.ID(128), ids[35])
	for _, s := range stages {
		assert.Equal(t, "WON", s)
	}
}

func TestScanRefusesInputBeforeSending(t *testing.T) {
	t.Parallel()
	c, srv, _ := crmPortal(t, 10)
	ctx := context.Background()
	for name, params := range map[string]any{
		"order by title":  map[string]any{"entityTypeId": 2, "order": map[string]string{"title": "ASC"}},
		"order id desc":   map[string]any{"entityTypeId": 2, "order": map[string]string{"id": "DESC"}},
		"filter a list":   map[string]any{"entityTypeId": 2, "filter": []int{1}},
		"params a list":   []int{1, 2},
		"params a string": "entityTypeId=2",
	} {
		for _, err := range c.Scan(ctx, "crm.item.list", params) {
			require.ErrorIs(t, err, bitrix24.ErrValidation, name)
		}
	}
	for _, err := range c.List(ctx, "crm item list", nil) {
		require.ErrorIs(t, err, bitrix24.ErrValidation)
	}
	for _, err := range c.Scan(ctx, "crm.item.list", nil, bitrix24.WithIDField("", "")) {
		require.ErrorIs(t, err, bitrix24.ErrValidation)
	}
	assert.Zero(t, srv.Requests("crm.item.list"))
}

func TestListAndScanHonourContext(t *testing.T) {
	t.Parallel()
	c, srv, _ := crmPortal(t, 200)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range c.Scan(ctx, "crm.item.list", map[string]any{"entityTypeId": 2}) {
		require.ErrorIs(t, err, context.Canceled)
	}
	assert.Zero(t, srv.Requests("crm.item.list"))

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	rows, errs := 0, 0
	for _, err := range c.List(ctx, "crm.item.list", map[string]any{"entityTypeId": 2}) {
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
			errs++
			continue
		}
		if rows++; rows == 10 {
			cancel()
		}
	}
	assert.Equal(t, 50, rows, "the page already received")
	assert.Equal(t, 1, errs)
	assert.Equal(t, 1, srv.Requests("crm.item.list"))
}

func TestScanPagesAreRetriedLikeReads(t *testing.T) {
	t.Parallel()
	c, srv, _ := crmPortal(t, 120)
	srv.InjectFault("crm.item.list", 1, bitrix24test.FaultHTML(http.StatusBadGateway))
	ids := collect(t, bitrix24.Rows[crmRow](c.Scan(context.Background(), "crm.item.list", map[string]any{"entityTypeId": 2})))
	assert.Equal(t, idRange(1, 120), ids)
	assert.Equal(t, 4, srv.Requests("crm.item.list"))
}

// Canned answers: shapes and failures of methods the fake does not implement. The
// method names are not reads by name (no "list" suffix), so a retry proves that pages
// are sent as idempotent.

func page(ids []int, rowsKey string, idField string, quote bool) string {
	rows := make([]map[string]any, len(ids))
	for i, id := range ids {
		var v any = id
		if quote {
			v = bitrix24.ID(id).String()
		}
		rows[i] = map[string]any{idField: v, "TITLE": "x"}
	}
	var result any = rows
	if rowsKey != "" {
		result = map[string]any{rowsKey: rows}
	}
	data, _ := json.Marshal(map[string]any{"result": result, "total": 0, "time": map[string]any{"start": 1.5}})
	return string(data)
}

func ints(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestScanTasksShape(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	rec := &recorder{}
	mt.RegisterResponder("POST", testWebhook+"tasks.task.list", rec.wrap(t,
		jsonResponder(200, page(ints(1, 50), "tasks", "id", true)).
			Then(jsonResponder(200, page(ints(51, 60), "tasks", "id", true)))))
	n := 0
	for row, err := range bitrix24.Rows[struct {
		ID bitrix24.ID `json:"id"`
	}](c.Scan(context.Background(), "tasks.task.list", map[string]any{"select": []string{"ID", "TITLE"}})) {
		require.NoError(t, err)
		n++
		assert.Equal(t, bitrix24.ID(n), row.ID)
	}
	assert.Equal(t, 60, n)
	require.Equal(t, 2, rec.count())
	assert.Equal(t, map[string]any{"ID": "ASC"}, rec.body(0)["order"])
	assert.Equal(t, map[string]any{">ID": float64(50)}, rec.body(1)["filter"])
	assert.Equal(t, float64(-1), rec.body(1)["start"])
}

func TestListShapes(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		body string
		opts []bitrix24.ListOption
		rows int
		err  error
	}{
		"list":                     {body: page(ints(1, 3), "", "ID", true), rows: 3},
		"empty []":                 {body: `{"result":[],"total":0}`},
		"empty items":              {body: `{"result":{"items":[]},"total":0}`},
		"object with one list":     {body: page(ints(1, 2), "things", "ID", false), rows: 2},
		"named key":                {body: `{"result":{"n":3,"rows":[{"ID":1}]}}`, opts: []bitrix24.ListOption{bitrix24.WithRowsKey("rows")}, rows: 1},
		"named key missing":        {body: `{"result":{"n":3}}`, opts: []bitrix24.ListOption{bitrix24.WithRowsKey("rows")}, err: bitrix24.ErrUnexpectedResponse},
		"object of two":            {body: `{"result":{"a":[],"b":[]}}`, err: bitrix24.ErrUnexpectedResponse},
		"scalar":                   {body: `{"result":true}`, err: bitrix24.ErrUnexpectedResponse},
		"list required, got items": {body: `{"result":{"items":[{"ID":1}]}}`, opts: []bitrix24.ListOption{bitrix24.WithRowsKey("")}, err: bitrix24.ErrUnexpectedResponse},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, mt := newWebhookClient(t)
			mt.RegisterResponder("POST", testWebhook+"x.export", jsonResponder(200, tc.body))
			rows := 0
			var last error
			for _, err := range c.List(context.Background(), "x.export", nil, tc.opts...) {
				if err != nil {
					last = err
					continue
				}
				rows++
			}
			assert.Equal(t, tc.rows, rows)
			if tc.err != nil {
				require.ErrorIs(t, last, tc.err)
				requireNoSecret(t, last.Error())
			} else {
				require.NoError(t, last)
			}
		})
	}
}

func TestScanStallsWhenTheMethodIgnoresTheFilter(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	mt.RegisterResponder("POST", testWebhook+"x.export", jsonResponder(200, page(ints(1, 50), "", "ID", true)))
	rows := 0
	var last error
	for _, err := range c.Scan(context.Background(), "x.export", nil) {
		if err != nil {
			last = err
			continue
		}
		rows++
	}
	require.ErrorIs(t, last, bitrix24.ErrCursorStalled)
	requireNoSecret(t, last.Error())
	assert.Equal(t, 50, rows, "no row of the repeated page is yielded")
	assert.Equal(t, 2, mt.GetTotalCallCount())
}

func TestScanStallsWhenTheMethodIgnoresTheOrder(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	desc := ints(1, 50)
	for i, j := 0, len(desc)-1; i < j; i, j = i+1, j-1 {
		desc[i], desc[j] = desc[j], desc[i]
	}
	mt.RegisterResponder("POST", testWebhook+"x.export", jsonResponder(200, page(desc, "", "ID", false)))
	for _, err := range c.Scan(context.Background(), "x.export", nil) {
		require.ErrorIs(t, err, bitrix24.ErrCursorStalled)
	}
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestScanNeedsTheIDField(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	mt.RegisterResponder("POST", testWebhook+"x.export", jsonResponder(200, `{"result":[{"id":1},{"CODE":"b"}]}`))
	var last error
	for _, err := range c.Scan(context.Background(), "x.export", nil) {
		last = err
	}
	require.ErrorIs(t, last, bitrix24.ErrUnexpectedResponse)
	assert.Contains(t, last.Error(), `"ID"`)
}

func TestListStallsWhenNextDoesNotAdvance(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	mt.RegisterResponder("POST", testWebhook+"x.export", jsonResponder(200, `{"result":[{"ID":1}],"total":9,"next":0}`))
	var last error
	rows := 0
	for _, err := range c.List(context.Background(), "x.export", nil) {
		if err != nil {
			last = err
			continue
		}
		rows++
	}
	require.ErrorIs(t, last, bitrix24.ErrCursorStalled)
	require.ErrorIs(t, last, bitrix24.ErrUnexpectedResponse)
	assert.Equal(t, 1, rows)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestListResumesAtTheParamsStart(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	rec := &recorder{}
	mt.RegisterResponder("POST", testWebhook+"x.export", rec.wrap(t,
		jsonResponder(200, `{"result":[{"ID":101}],"total":101}`)))
	for _, err := range c.List(context.Background(), "x.export", map[string]any{"start": 100}) {
		require.NoError(t, err)
	}
	assert.Equal(t, float64(100), rec.body(0)["start"])
}

func TestListPagesAreIdempotent(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	mt.RegisterResponder("POST", testWebhook+"x.export",
		jsonResponder(502, "<html>bad gateway</html>").Then(jsonResponder(200, `{"result":[{"ID":1}],"total":1}`)))
	rows := 0
	for _, err := range c.List(context.Background(), "x.export", nil) {
		require.NoError(t, err)
		rows++
	}
	assert.Equal(t, 1, rows)
	assert.Equal(t, 2, mt.GetTotalCallCount())
}

func TestRowsStopsAtTheFirstBadRow(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	mt.RegisterResponder("POST", testWebhook+"x.export", jsonResponder(200, `{"result":[{"ID":"1"},{"ID":"two"},{"ID":"3"}]}`))
	var got []bitrix24.ID
	var last error
	for row, err := range bitrix24.Rows[struct{ ID bitrix24.ID }](c.List(context.Background(), "x.export", nil)) {
		if err != nil {
			last = err
			continue
		}
		got = append(got, row.ID)
	}
	assert.Equal(t, []bitrix24.ID{1}, got)
	require.Error(t, last)
	assert.False(t, errors.Is(last, bitrix24.ErrValidation))
}
