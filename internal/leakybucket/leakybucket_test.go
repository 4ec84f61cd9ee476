package leakybucket

import (
	"context"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHeadroom(t *testing.T) {
	t.Parallel()
	cases := []struct{ burst, wantBurst, margin int }{
		{-5, 1, 0}, {0, 1, 0}, {1, 1, 0}, {2, 2, 0}, {3, 3, 1}, {4, 4, 1},
		{20, 20, 1}, {21, 21, 2}, {40, 40, 2}, {50, 50, 3}, {250, 250, 13},
	}
	for _, tc := range cases {
		b := New(2, tc.burst)
		assert.Equal(t, tc.wantBurst, b.Burst(), "burst %d", tc.burst)
		assert.Equal(t, tc.margin, b.margin, "burst %d", tc.burst)
		assert.Equal(t, b.Burst()-b.margin, b.lim.Burst(), "burst %d: the limiter admits burst - margin", tc.burst)
		assert.GreaterOrEqual(t, b.lim.Burst(), 1, "burst %d leaves no slot", tc.burst)
	}
	// At high rates the headroom also covers 100ms of arrival jitter.
	assert.Equal(t, 10, New(100, 50).margin)
	assert.Equal(t, 49, New(1000, 50).margin, "capped so one slot remains")
	assert.Equal(t, 2.0, New(2, 50).Rate())
	assert.Equal(t, 0.0, New(-1, 50).Rate())
}

// After the usable burst, requests are spaced 1/rate apart: the headroom costs a few
// slots once, not throughput.
func TestBurstThenSpacing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate  float64
		burst int
	}{{2, 50}, {5, 250}, {1, 1}, {10, 2}, {3, 10}} {
		synctest.Test(t, func(t *testing.T) {
			b := New(tc.rate, tc.burst)
			usable := tc.burst - b.margin
			interval := time.Duration(float64(time.Second) / tc.rate)
			start := time.Now()
			for i := range usable + 20 {
				require.NoError(t, b.Wait(context.Background()))
				want := time.Duration(max(0, i-usable+1)) * interval
				// x/time/rate computes in float64 nanoseconds; the guard adds 2 ns a step.
				require.InDelta(t, want, time.Since(start), float64(3*(i+1)), "rate %v burst %d call %d", tc.rate, tc.burst, i)
			}
		})
	}
}

// A waiter that gives up returns at once and gives its slot back: the next caller gets
// that slot, not the one after it.
func TestCancelGivesTheSlotBack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := New(1, 1)
		start := time.Now()
		require.NoError(t, b.Wait(context.Background()))

		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- b.Wait(ctx) }()
		synctest.Wait() // parked on its timer, one second away
		cancel()
		require.ErrorIs(t, <-errc, context.Canceled)
		assert.Zero(t, time.Since(start), "returned at once")

		require.NoError(t, b.Wait(context.Background()))
		assert.InDelta(t, time.Second, time.Since(start), 10, "took the cancelled slot, not the one after it")
	})
}

// A deadline before the slot fails at once, with context.DeadlineExceeded, and
// consumes nothing.
func TestDeadlineBeforeSlotFailsAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := New(0.001, 1) // one request per 1000 s
		require.NoError(t, b.Wait(context.Background()))
		start := time.Now()

		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Second)
		defer cancel()
		require.ErrorIs(t, b.Wait(ctx), context.DeadlineExceeded)
		assert.Zero(t, time.Since(start), "failed before the deadline, not by reaching it")

		ctx2, cancel2 := context.WithTimeout(context.Background(), 1001*time.Second)
		defer cancel2()
		require.NoError(t, b.Wait(ctx2))
		assert.InDelta(t, 1000*time.Second, time.Since(start), float64(time.Microsecond), "the refused call took no slot")
	})
}

func TestUnlimitedNeverWaits(t *testing.T) {
	t.Parallel()
	for _, r := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		synctest.Test(t, func(t *testing.T) {
			b := New(r, 1)
			assert.Zero(t, b.Rate())
			start := time.Now()
			for range 1000 {
				require.NoError(t, b.Wait(context.Background()))
			}
			assert.Zero(t, time.Since(start), "rate %v", r)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			require.ErrorIs(t, b.Wait(ctx), context.Canceled)
		})
	}
}

func TestDoneContextConsumesNothing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := New(1, 1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for range 10 {
			require.ErrorIs(t, b.Wait(ctx), context.Canceled)
		}
		start := time.Now()
		require.NoError(t, b.Wait(context.Background()))
		assert.Zero(t, time.Since(start), "the burst is still there")
	})
}

func TestExtremeRatesDoNotOverflow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := New(1e-300, math.MaxInt)
		for range 100 {
			require.NoError(t, b.Wait(context.Background()))
		}
		b2 := New(1e-300, 1)
		require.NoError(t, b2.Wait(context.Background()))
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		require.ErrorIs(t, b2.Wait(ctx), context.DeadlineExceeded)

		huge := New(1e12, 1)
		for range 100 {
			require.NoError(t, huge.Wait(context.Background()))
		}
	})
}

func BenchmarkWait(b *testing.B) {
	for _, bc := range []struct {
		name string
		rate float64
	}{
		{"unlimited", 0},
		{"huge_rate", 1e12},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bucket := New(bc.rate, 1)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := bucket.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
