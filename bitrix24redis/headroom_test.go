package bitrix24redis

import (
	"context"
	"testing"
	"time"

	"github.com/b24go/bitrix24/internal/leakybucket"
)

// The Redis limiter must keep exactly the in-process bucket's headroom: count what the
// in-process bucket admits at once on a frozen clock and compare.
func TestHeadroomMatchesInProcessBucket(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	now := func() time.Time { return base }
	// after is called only when a waiter has to wait: the end of what is admitted at once.
	waited := false
	fired := make(chan time.Time)
	close(fired)
	after := func(time.Duration) <-chan time.Time { waited = true; return fired }
	for _, c := range []struct {
		rate  float64
		burst int
	}{{2, 50}, {5, 250}, {0.001, 20}, {1, 1}, {1, 2}, {1, 3}, {50, 10}, {300, 40}, {1e9, 5}, {20, 100}, {1, 21}, {2, 41}, {35, 60}, {31, 70}} {
		b := leakybucket.NewWithClock(c.rate, c.burst, now, after)
		waited = false
		admitted := 0
		for range c.burst + 1 {
			if err := b.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			if waited {
				break
			}
			admitted++
		}
		if got := c.burst - headroom(c.rate, c.burst); got != admitted {
			t.Errorf("rate %v burst %d: Redis limiter admits %d at once, in-process bucket %d", c.rate, c.burst, got, admitted)
		}
	}
}
