package bitrix24_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/b24go/bitrix24/internal/leakybucket"
)

const (
	// benchAutoBatchWait is the hold of WithAutoBatch in BenchmarkAutoBatch.
	benchAutoBatchWait = 10 * time.Millisecond
	// benchDirectSpeedup is how much faster than real time the fake portal's clock, and
	// with it the client's leaky bucket, runs in mode=direct: without auto-batching
	// 10,000 calls at 2/s take 83 minutes of portal time.
	benchDirectSpeedup = 50
)

// BenchmarkAutoBatch makes n concurrent calls of UserOption.Set (string values, so
// they qualify) against bitrix24test over plain HTTP with the standard plan's leaky
// bucket (2/s, burst 50), with WithAutoBatch(10ms) (mode=auto) and without it
// (mode=direct), on a fresh server and client each iteration. The client paces with the
// SDK's default bucket (2/s, burst 50, 3 slots of headroom). The operating-time limit
// is off: this measures the request bucket.
//
// mode=auto runs on the real clock. mode=direct runs with the portal's clock, and the
// client's bucket with it, 50 times faster than real time, so 10,000 calls take 100 s
// instead of 83 minutes: both still count 2 requests per second of portal time. Its
// wall time is stated in portal seconds (real seconds × 50), which is what the calls
// take against a real portal, where the wait for the bucket is nearly all of it. The
// CPU and network time of the requests is scaled too, so this overstates the direct
// wall time slightly; and network jitter is magnified 50 times relative to the
// bucket's slots, which may cost a few 503s that real time would not see.
//
// Metrics per iteration: "requests" is the REST requests the portal received, "503s"
// its QUERY_LIMIT_EXCEEDED refusals, "wall-s" the wall time of the n calls in portal
// seconds (ns/op is real time). With -short, n = 10,000 is skipped (it takes about
// 75 s of real time with the option, at 2 batches per second, and 100 s without).
//
//	go test -run='^$' -bench='^BenchmarkAutoBatch$' -benchtime=1x .
func BenchmarkAutoBatch(b *testing.B) {
	sizes := []int{100, 1000, 10000}
	for _, mode := range []string{"auto", "direct"} {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("mode=%s/n=%d", mode, n), func(b *testing.B) {
				if n > 1000 && testing.Short() {
					b.Skip("-short: n = 10,000 takes 75 to 100 s of real time")
				}
				speedup := 1.0
				if mode == "direct" {
					speedup = benchDirectSpeedup
				}
				var wall, requests, refusals float64
				b.StopTimer()
				for range b.N {
					w, req, ref := autoBatchRun(b, mode == "auto", n, speedup)
					wall += w.Seconds() * speedup
					requests += float64(req)
					refusals += float64(ref)
				}
				b.ReportMetric(requests/float64(b.N), "requests")
				b.ReportMetric(refusals/float64(b.N), "503s")
				b.ReportMetric(wall/float64(b.N), "wall-s")
			})
		}
	}
}

// autoBatchRun makes n concurrent UserOption.Set calls on a fresh portal whose clock
// runs speedup times faster than real time, and returns the real wall time, the REST
// requests the portal received and its refusals.
func autoBatchRun(b *testing.B, auto bool, n int, speedup float64) (time.Duration, int, int) {
	b.Helper()
	base := time.Now()
	clock := func() time.Time { return base.Add(time.Duration(float64(time.Since(base)) * speedup)) }
	srv := bitrix24test.NewServer(bitrix24test.WithPlainHTTP(),
		bitrix24test.WithRateLimit(bitrix24test.DefaultRateLimit, bitrix24test.DefaultBurst),
		bitrix24test.WithOperationTimeLimit(0),
		bitrix24test.WithTokenLifetime(time.Duration(speedup)*bitrix24test.DefaultTokenLifetime),
		bitrix24test.WithClock(clock))
	defer srv.Close()
	// The client's own bucket, the SDK's default, on the portal's clock.
	after := func(d time.Duration) <-chan time.Time {
		return time.After(time.Duration(float64(d) / speedup))
	}
	opts := []bitrix24.Option{bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithAllowHTTP(),
		bitrix24.WithLimiter(leakybucket.NewWithClock(bitrix24.DefaultRatePerSecond, bitrix24.DefaultBurst, clock, after))}
	if auto {
		opts = append(opts, bitrix24.WithAutoBatch(benchAutoBatchWait))
	}
	c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	errs := make([]error, n)
	var wg sync.WaitGroup
	b.StartTimer()
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.UserOption.Set(ctx, map[string]any{"k" + strconv.Itoa(i): "v" + strconv.Itoa(i)})
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	b.StopTimer()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	if ran := srv.Calls("user.option.set"); ran != n {
		b.Fatalf("user.option.set ran %d times, want %d", ran, n)
	}
	if auto && c.AutoBatchStats().Calls != uint64(n) {
		b.Fatalf("coalesced %d calls, want %d", c.AutoBatchStats().Calls, n)
	}
	return wall, srv.Requests("") - srv.Requests("oauth/token"), srv.QueryLimitRefusals()
}
