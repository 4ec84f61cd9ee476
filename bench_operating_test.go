package bitrix24_test

// Benchmarks of the operating-time budget (WithOperatingBudget) against bitrix24test's
// model of reference §7.2: crm.item.list costs 1 s of server time a page, the limit is
// the cloud's 480 s per rolling 10 minutes, and an exporter fetches opWorkers pages at a
// time for 30 minutes of the portal's clock: four times what the limit allows. The
// portal's clock, the client's and the page's 1 s all run opSpeedup times faster than
// real time, so 30 minutes take 18 s.
//
//	go test -run='^$' -bench='^BenchmarkOperating' -benchtime=1x . | tee docs/bench/operating.txt
//
// Metrics: "pages" fetched, "op-errors" (OPERATION_TIME_LIMIT answers the portal
// sent), "first-error-s" (when the first came, in portal seconds into the run; absent
// when none did), "w1-used-s".. "w3-used-s" (server time used by the pages of each 10
// minutes) and "min-used-%" (the least of those against the limit).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

const (
	opSpeedup   = 100              // portal seconds per real second (400 with -short)
	opWorkers   = 4                // pages an exporter fetches at a time
	opPageCost  = time.Second      // server time of one page
	opWindow    = 10 * time.Minute // the limit's rolling window
	opExportFor = 30 * time.Minute // portal time of one run
	// opNaivePause is how long an exporter without the budget waits after an error
	// before it asks for the page again.
	opNaivePause = 10 * time.Second
)

// opSimBase is the portal time a run starts at: a minute boundary, like the server's
// buckets.
var opSimBase = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// simClock is the accelerated clock shared by the portal and the clients, also across
// processes: real is the wall-clock instant of opSimBase, speed the portal seconds per
// real second.
type simClock struct {
	real  time.Time
	speed float64
}

// opSpeed is opSpeedup, or 400 with -short (CI's smoke run).
func opSpeed() float64 {
	if testing.Short() {
		return 4 * opSpeedup
	}
	return opSpeedup
}

func (k simClock) now() time.Time {
	return opSimBase.Add(time.Duration(float64(time.Since(k.real)) * k.speed))
}

func (k simClock) after(d time.Duration) <-chan time.Time {
	return time.After(k.realOf(d))
}

// realOf is the real duration of d on the portal's clock.
func (k simClock) realOf(d time.Duration) time.Duration { return time.Duration(float64(d) / k.speed) }

// costTransport makes each crm.item.list take opPageCost of the portal's clock before
// it reaches the portal, which records it (as the real one does at the end of a call).
type costTransport struct {
	base http.RoundTripper
	k    simClock
}

func (t costTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "crm.item.list") {
		select {
		case <-t.k.after(opPageCost):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return t.base.RoundTrip(r)
}

// opPortal starts the portal of the runs on the clock now.
func opPortal(now func() time.Time) *bitrix24test.Server {
	srv := bitrix24test.NewServer(bitrix24test.WithPlainHTTP(), bitrix24test.WithRateLimit(0, 0),
		bitrix24test.WithScope("crm,user,placement"), bitrix24test.WithClock(now),
		bitrix24test.WithTokenLifetime(opSpeedup*bitrix24test.DefaultTokenLifetime))
	srv.SetMethodCost("crm.item.list", opPageCost)
	return srv
}

// opClient is an exporter's client: budget on or off, margin 0 for the default.
func opClient(cfg bitrix24.OAuthConfig, k simClock, budget bool, margin time.Duration) (*bitrix24.Client, error) {
	opts := []bitrix24.Option{bitrix24.WithAllowHTTP(), bitrix24.WithRateLimit(0, 0),
		bitrix24.WithHTTPClient(&http.Client{Transport: costTransport{http.DefaultTransport, k}}),
		bitrix24.WithTestClock(k.now, k.after)}
	if !budget {
		opts = append(opts, bitrix24.WithOperatingBudget(0))
	}
	if margin > 0 {
		opts = append(opts, bitrix24.WithOperatingMargin(margin))
	}
	return bitrix24.NewOAuthClient(cfg, opts...)
}

// exportStats is what one exporter (or all of them) saw.
type exportStats struct {
	Pages   []int64 // portal Unix ns at which each page's answer arrived
	Errors  int     // OPERATION_TIME_LIMIT errors the exporter got
	First   int64   // portal Unix ns of the first of them (0: none)
	Other   []string
	EndedAt int64
}

// export fetches pages of crm.item.list from workers goroutines until the portal's
// clock reaches end. Without the budget, an error makes a worker wait opNaivePause and
// ask again.
func export(c *bitrix24.Client, k simClock, end time.Time, workers int) exportStats {
	var (
		mu sync.Mutex
		st exportStats
		wg sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := time.AfterFunc(k.realOf(end.Sub(k.now())), cancel)
	defer stop.Stop()
	params := map[string]any{"entityTypeId": 2, "start": -1, "order": map[string]string{"id": "ASC"}, "filter": map[string]any{">id": 0}}
	for range workers {
		wg.Go(func() {
			for k.now().Before(end) {
				err := c.Call(ctx, "crm.item.list", params, nil)
				mu.Lock()
				switch {
				case err == nil:
					st.Pages = append(st.Pages, k.now().UnixNano())
				case ctx.Err() != nil:
				case errors.Is(err, bitrix24.ErrOperationTimeLimit):
					st.Errors++
					if st.First == 0 {
						st.First = k.now().UnixNano()
					}
				default:
					if len(st.Other) < 3 {
						st.Other = append(st.Other, err.Error())
					}
				}
				mu.Unlock()
				if err != nil {
					select {
					case <-k.after(opNaivePause):
					case <-ctx.Done():
					}
				}
			}
		})
	}
	wg.Wait()
	st.EndedAt = k.now().UnixNano()
	return st
}

// report adds the metrics of the pages of all exporters and checks them against want.
func report(b *testing.B, srv *bitrix24test.Server, all []exportStats, windows int) (minUsed float64, refusals int) {
	b.Helper()
	used := make([]float64, windows)
	pages := 0
	for _, st := range all {
		for _, p := range st.Pages {
			if w := int(time.Unix(0, p).Sub(opSimBase) / opWindow); w < windows {
				used[w] += opPageCost.Seconds()
				pages++
			}
		}
		if len(st.Other) > 0 {
			b.Fatalf("unexpected errors: %q", st.Other)
		}
	}
	minUsed = 100
	for w, u := range used {
		b.ReportMetric(u, fmt.Sprintf("w%d-used-s", w+1))
		minUsed = min(minUsed, u/bitrix24test.DefaultOperationTimeLimit.Seconds()*100)
	}
	var first int64
	for _, st := range all {
		if st.First != 0 && (first == 0 || st.First < first) {
			first = st.First
		}
	}
	if first != 0 {
		b.ReportMetric(time.Unix(0, first).Sub(opSimBase).Seconds(), "first-error-s")
	}
	refusals = srv.OperationTimeLimitRefusals()
	b.ReportMetric(float64(pages), "pages")
	b.ReportMetric(float64(refusals), "op-errors")
	b.ReportMetric(minUsed, "min-used-%")
	return minUsed, refusals
}

// opMinutes is the portal time of a run: 30 minutes, or 12 with -short (CI's smoke run).
func opMinutes() time.Duration {
	if testing.Short() {
		return 12 * time.Minute
	}
	return opExportFor
}

// opRun runs n exporters, each with a client of its own (as n processes would), for
// opMinutes of portal time on a fresh portal.
func opRun(b *testing.B, n int, budget bool, margin time.Duration) (float64, int) {
	b.Helper()
	k := simClock{real: time.Now(), speed: opSpeed()}
	srv := opPortal(k.now)
	defer srv.Close()
	end := opSimBase.Add(opMinutes())
	all := make([]exportStats, n)
	var wg sync.WaitGroup
	for i := range n {
		c, err := opClient(srv.OAuthConfig(), k, budget, margin)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { all[i] = export(c, k, end, opWorkers) })
	}
	wg.Wait()
	return report(b, srv, all, int(opMinutes()/opWindow))
}

// BenchmarkOperatingExport: one exporter, without the budget (budget=off: the SDK's
// behaviour before it, fail fast) and with it (the default).
func BenchmarkOperatingExport(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run("budget="+mode, func(b *testing.B) {
			for range b.N {
				minUsed, refusals := opRun(b, 1, mode == "on", 0)
				if mode == "on" && (refusals != 0 || minUsed < 90 && !testing.Short()) {
					b.Errorf("with the budget: %d OPERATION_TIME_LIMIT, %.1f %% of the limit used (want 0, ≥ 90 %%)", refusals, minUsed)
				}
				if mode == "off" && refusals == 0 {
					b.Errorf("without the budget the exporter was never blocked")
				}
			}
		})
	}
}

// BenchmarkOperatingMargin: 4 exporters (of opWorkers pages at a time) with a client
// each, the way 4 processes share
// one budget (each sees the others only through the portal's figure), for margins of 0
// to 48 s of the 480 s: what the choice of the default (24 s) rests on.
func BenchmarkOperatingMargin(b *testing.B) {
	for _, m := range []time.Duration{time.Nanosecond, 6 * time.Second, 12 * time.Second, 24 * time.Second, 48 * time.Second} {
		b.Run(fmt.Sprintf("clients=4/margin=%.0fs", m.Seconds()), func(b *testing.B) {
			if testing.Short() && m != 24*time.Second {
				b.Skip("-short: the default margin only")
			}
			for range b.N {
				opRun(b, 4, true, m)
			}
		})
	}
}
