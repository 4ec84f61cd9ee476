package bitrix24redis

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/b24go/bitrix24"
)

// The Redis limiter must keep exactly the in-process bucket's headroom: count what the
// root module's public bucket admits at once, on synctest's clock (which stands still
// until every goroutine of the bubble waits), and compare.
func TestHeadroomMatchesInProcessBucket(t *testing.T) {
	for _, c := range []struct {
		rate  float64
		burst int
	}{{2, 50}, {5, 250}, {0.001, 20}, {1, 1}, {1, 2}, {1, 3}, {50, 10}, {300, 40}, {1e9, 5}, {20, 100}, {1, 21}, {2, 41}, {35, 60}, {31, 70}} {
		synctest.Test(t, func(t *testing.T) {
			b := bitrix24.NewLeakyBucket(c.rate, c.burst)
			start := time.Now()
			admitted := 0
			for range c.burst + 1 {
				if err := b.Wait(context.Background()); err != nil {
					t.Fatal(err)
				}
				if time.Now().After(start) {
					break // this one had to wait
				}
				admitted++
			}
			if got := c.burst - headroom(c.rate, c.burst); got != admitted {
				t.Errorf("rate %v burst %d: Redis limiter admits %d at once, in-process bucket %d", c.rate, c.burst, got, admitted)
			}
		})
	}
}
