package leakybucket_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/b24go/bitrix24/internal/leakybucket"
)

// A bucket of (rate, burst) never makes bitrix24test's bucket of (rate, burst) refuse,
// whatever the pattern of callers, and even when each request is delayed on its way by
// up to headroom/rate (the headroom rule of New). In a synctest bubble the fake reads
// the bubble's clock, so the property is exact and does not depend on the machine.
func TestZeroRefusalsAgainstTheFake(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate  float64
		burst int
		// margin is what New keeps free (TestHeadroom checks the rule itself); the
		// callers' requests are delayed by up to margin/rate on their way.
		margin int
	}{
		{2, 50, 3}, {5, 250, 13}, {100, 50, 10}, {250, 50, 25}, {1000, 50, 49},
		{1, 1, 0}, {3, 1, 0}, {3, 2, 0}, {7, 3, 1}, {0.5, 10, 1},
	} {
		t.Run(fmt.Sprintf("rate=%v/burst=%d", tc.rate, tc.burst), func(t *testing.T) {
			t.Parallel()
			srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(tc.rate, tc.burst))
			t.Cleanup(srv.Close)
			hc := srv.InProcessClient()
			url := srv.WebhookURL() + "server.time"
			maxDelay := time.Duration(float64(tc.margin) / tc.rate * float64(time.Second))
			phase := time.Duration(float64(tc.burst) / tc.rate * float64(time.Second) / 3)

			const callers, perCaller = 8, 40
			synctest.Test(t, func(t *testing.T) {
				b := leakybucket.New(tc.rate, tc.burst)
				start := time.Now()
				var wg sync.WaitGroup
				for g := range callers {
					rng := rand.New(rand.NewPCG(uint64(g), uint64(tc.burst)))
					wg.Go(func() {
						for range perCaller {
							// Idle now and then, so the bucket refills partly or fully.
							if rng.IntN(8) == 0 {
								time.Sleep(time.Duration(rng.Float64() * float64(tc.burst) / tc.rate * float64(time.Second)))
							}
							if !assert.NoError(t, b.Wait(context.Background())) {
								return
							}
							// The worst compression is a run of delayed requests followed
							// by prompt ones: the delay switches on and off in phases.
							if time.Since(start)/phase%2 == 0 {
								time.Sleep(maxDelay)
							}
							post(t, hc, url)
						}
					})
				}
				wg.Wait()
			})
			assert.Equal(t, 0, srv.QueryLimitRefusals())
			assert.Equal(t, callers*perCaller, srv.Requests("server.time"))
		})
	}
}

func post(t *testing.T, hc *http.Client, url string) {
	t.Helper()
	resp, err := hc.Post(url, "application/json", strings.NewReader("{}"))
	if !assert.NoError(t, err) { // not require: callers run outside the test goroutine
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}
