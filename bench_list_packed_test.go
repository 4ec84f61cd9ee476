package bitrix24_test

// BenchmarkScanPacked: exports through Scan with WithPagesPerRequest(1|10|50), against
// bitrix24test's crm.item.list with the standard plan's limits on both sides (the
// portal's leaky bucket, 2/s with burst 50, and the client's default bucket; the
// operating-time limit, 480 s per method in 10 minutes) and the fake's cost model
// (bitrix24test/methods_crm.go), all on one fake clock. docs/performance.md ("Exports
// packed into batches") has the figures and the command.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/b24go/bitrix24/internal/leakybucket"
)

// fakeClock is a clock that moves only when told: when the client's bucket waits (it
// jumps to the end of the wait), when the portal has worked (it moves by the modelled
// time of each answer), and when the export waits for operating_reset_at. Wall time in
// the benchmark is its reading, so the figures do not depend on the machine.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.t = c.t.Add(d)
	}
}

// after is the bucket's timer: the wait is over as soon as it starts.
func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	c.advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.now()
	return ch
}

// portalTime moves the clock by the database time the portal modelled for each
// answer: the server's own time, which a sequential export waits for.
type portalTime struct {
	next  http.RoundTripper
	srv   *bitrix24test.Server
	clock *fakeClock
	mu    sync.Mutex
	spent time.Duration
}

func (p *portalTime) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(req)
	p.mu.Lock()
	spent := p.srv.ListTime()
	p.clock.advance(spent - p.spent)
	p.spent = spent
	p.mu.Unlock()
	return resp, err
}

// Cost levels of the benchmark: the fake's default (1 µs a row: a page costs 50 µs,
// the operating limit never comes near), and a heavy method whose page costs 0.25 s
// (5 ms a row), so that 100,000 rows (2,001 pages, 500 s) overrun the 480 s budget.
var scanCosts = []struct {
	name string
	row  time.Duration
}{
	{"cheap", bitrix24test.DefaultListRowCost},
	{"heavy", 5 * time.Millisecond},
}

// BenchmarkScanPacked exports rows through Scan with n pages a request. Metrics per
// op: "requests" (REST requests the portal received), "wall-s" (fake clock),
// "rows/s" (rows over wall-s), "server-s" (database time the portal modelled, the
// garbage pages after the short one included), "pages" (list commands the portal
// ran), "503s", "op-waits" (times the export got OPERATION_TIME_LIMIT and resumed at
// operating_reset_at) and "bound-s", the least wall time the portal's two limits
// allow (see boundSeconds), with "wall/bound".
//
//	go test -run='^$' -bench='^BenchmarkScanPacked$' -benchtime=1x .
//
// With -short, 100,000 rows are skipped (CI's smoke run).
func BenchmarkScanPacked(b *testing.B) {
	for _, cost := range scanCosts {
		for _, rows := range []int{1_000, 10_000, 100_000} {
			for _, n := range []int{1, 10, 50} {
				b.Run(fmt.Sprintf("cost=%s/rows=%d/n=%d", cost.name, rows, n), func(b *testing.B) {
					if rows > 10_000 && testing.Short() {
						b.Skip("-short: 100,000 rows take seconds of CPU per op")
					}
					var m scanMetrics
					for b.Loop() {
						m = scanExport(b, rows, n, cost.row)
					}
					bound := boundSeconds(rows, n, cost.row)
					b.ReportMetric(float64(m.requests), "requests")
					b.ReportMetric(m.wall.Seconds(), "wall-s")
					b.ReportMetric(float64(rows)/m.wall.Seconds(), "rows/s")
					b.ReportMetric(m.server.Seconds(), "server-s")
					b.ReportMetric(float64(m.pages), "pages")
					b.ReportMetric(float64(m.refusals), "503s")
					b.ReportMetric(float64(m.opWaits), "op-waits")
					b.ReportMetric(bound, "bound-s")
					b.ReportMetric(m.wall.Seconds()/bound, "wall/bound")
				})
			}
		}
	}
}

type scanMetrics struct {
	requests, pages, refusals, opWaits int
	wall, server                       time.Duration
}

// scanExport exports rows items on a fresh portal and client, n pages a request,
// resuming after OPERATION_TIME_LIMIT at the reported operating_reset_at (filter ">id"
// = the last ID received), as an exporter does.
func scanExport(b *testing.B, rows, n int, rowCost time.Duration) scanMetrics {
	b.StopTimer()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	srv := bitrix24test.NewServer(bitrix24test.WithPlainHTTP(), bitrix24test.WithScope("crm"),
		bitrix24test.WithRateLimit(bitrix24test.DefaultRateLimit, bitrix24test.DefaultBurst),
		bitrix24test.WithOperationTimeLimit(bitrix24test.DefaultOperationTimeLimit),
		bitrix24test.WithClock(clock.now))
	defer srv.Close()
	srv.SeedCRMItems(2, rows)
	srv.SetListRowCost(rowCost)
	hc := srv.Client()
	hc.Transport = &portalTime{next: hc.Transport, srv: srv, clock: clock}
	c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(hc), bitrix24.WithAllowHTTP(),
		bitrix24.WithLimiter(leakybucket.NewWithClock(bitrix24.DefaultRatePerSecond, bitrix24.DefaultBurst, clock.now, clock.after)),
		bitrix24.WithTestClock(clock.now, clock.after))
	if err != nil {
		b.Fatal(err)
	}
	var m scanMetrics
	start := clock.now()
	b.StartTimer()
	got, last := 0, bitrix24.ID(0)
	for done := false; !done; {
		params := map[string]any{"entityTypeId": 2, "select": []string{"id", "title"}}
		if got > 0 {
			params["filter"] = map[string]any{">id": last}
		}
		done = true
		for row, err := range bitrix24.Rows[crmRow](c.Scan(context.Background(), "crm.item.list", params, bitrix24.WithPagesPerRequest(n))) {
			var apiErr *bitrix24.APIError
			if errors.As(err, &apiErr) && errors.Is(err, bitrix24.ErrOperationTimeLimit) && !apiErr.ResetAt.IsZero() {
				clock.advance(apiErr.ResetAt.Sub(clock.now()))
				m.opWaits++
				done = false
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if row.ID <= last {
				b.Fatalf("row %d after %d", row.ID, last)
			}
			got, last = got+1, row.ID
		}
	}
	b.StopTimer()
	if got != rows {
		b.Fatalf("exported %d rows, want %d", got, rows)
	}
	m.wall = clock.now().Sub(start)
	m.requests = srv.Requests("") - srv.Requests("oauth/token")
	m.pages = srv.Calls("crm.item.list")
	m.refusals = srv.QueryLimitRefusals()
	m.server = srv.ListTime()
	b.StartTimer()
	return m
}

// boundSeconds is the least wall time in which the portal lets one exporter fetch rows
// by ID, n pages a request, whatever the client does: the largest of
//   - the leaky bucket: ⌈P/n⌉ requests (P = rows/50 + 1 pages, the last one short), the
//     first 50 at once, then 2 a second, and the work of the rows the last one needs
//     after it is let in;
//   - the work itself, one request after another: every row walked once, at rowCost
//     (the cost model charges a Scan page the rows it returns);
//   - the operating limit: at most 480 s of a method's work in 600 s, so work W beyond
//     480 s waits for the oldest minute to leave the window: 600 s per 480 s, plus the
//     rest (W ≤ 480 s: W).
func boundSeconds(rows, n int, rowCost time.Duration) float64 {
	pages := rows/bitrix24.PageSize + 1
	requests := (pages + n - 1) / n
	lastRows := rows - (requests-1)*n*bitrix24.PageSize
	rate := max(0, float64(requests-bitrix24test.DefaultBurst)/bitrix24test.DefaultRateLimit) +
		(time.Duration(lastRows) * rowCost).Seconds()
	work := (time.Duration(rows) * rowCost).Seconds()
	limit := bitrix24test.DefaultOperationTimeLimit.Seconds()
	op := work
	for w := work; w > limit; w -= limit {
		op += 600 - limit
	}
	return max(rate, work, op)
}
