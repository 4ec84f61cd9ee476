package bitrix24

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func constRnd(v float64) func() float64 { return func() float64 { return v } }

// nominal is the reference model: min*2^(attempt-1) capped at max, computed
// with big-enough arithmetic to be obviously right.
func nominalDelay(attempt int, minDelay, maxDelay time.Duration) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	f := float64(minDelay) * math.Pow(2, float64(attempt-1))
	if f >= float64(maxDelay) {
		return maxDelay
	}
	return time.Duration(f)
}

func TestDelayBounds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		min, max time.Duration
	}{
		{"typical", 100 * time.Millisecond, 30 * time.Second},
		{"one ns", 1, time.Hour},
		{"max int64 cap", time.Second, math.MaxInt64},
		{"odd", 3, 1001},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for attempt := 1; attempt <= 70; attempt++ {
				n := nominalDelay(attempt, tc.min, tc.max)
				lo := n - n/2
				dLo := backoffDelay(attempt, tc.min, tc.max, constRnd(0))
				dHi := backoffDelay(attempt, tc.min, tc.max, constRnd(0.999))
				assert.Equal(t, lo, dLo, "attempt %d rnd=0", attempt)
				assert.GreaterOrEqual(t, dHi, lo, "attempt %d", attempt)
				assert.LessOrEqual(t, dHi, n, "attempt %d", attempt)
				assert.LessOrEqual(t, dHi, tc.max, "attempt %d", attempt)
				if n >= 2 {
					assert.Less(t, dHi, n, "attempt %d: jitter must stay below nominal", attempt)
				}
				assert.LessOrEqual(t, dLo, dHi, "attempt %d", attempt)
			}
		})
	}
}

func TestDelayExponential(t *testing.T) {
	t.Parallel()
	minD, maxD := 100*time.Millisecond, time.Hour
	want := []time.Duration{50, 100, 200, 400, 800}
	for i, w := range want {
		assert.Equal(t, w*time.Millisecond, backoffDelay(i+1, minD, maxD, constRnd(0)), "attempt %d", i+1)
	}
}

func TestDelayCap(t *testing.T) {
	t.Parallel()
	minD, maxD := time.Second, 10*time.Second
	for _, attempt := range []int{5, 6, 64, 65, 1000, math.MaxInt} {
		d := backoffDelay(attempt, minD, maxD, constRnd(0.999))
		assert.GreaterOrEqual(t, d, 5*time.Second, "attempt %d", attempt)
		assert.Less(t, d, 10*time.Second, "attempt %d", attempt)
	}
}

func TestDelayMaxBelowMin(t *testing.T) {
	t.Parallel()
	// max < min behaves as max == min: a constant (jittered) delay.
	for attempt := 1; attempt <= 10; attempt++ {
		assert.Equal(t, time.Second, backoffDelay(attempt, 2*time.Second, time.Millisecond, constRnd(0)))
	}
}

func TestDelayMinNonPositive(t *testing.T) {
	t.Parallel()
	for _, m := range []time.Duration{0, -1, math.MinInt64} {
		assert.Zero(t, backoffDelay(1, m, time.Second, constRnd(0.5)))
		assert.Zero(t, backoffDelay(50, m, time.Second, nil))
	}
}

func TestDelayAttemptBelowOne(t *testing.T) {
	t.Parallel()
	for _, a := range []int{0, -1, math.MinInt} {
		assert.Equal(t, 50*time.Millisecond, backoffDelay(a, 100*time.Millisecond, time.Second, constRnd(0)))
	}
}

func TestDelayBadRandomSource(t *testing.T) {
	t.Parallel()
	minD, maxD := time.Second, time.Second
	for _, r := range []float64{-1, 1, 2, math.NaN(), math.Inf(1), math.Inf(-1)} {
		d := backoffDelay(1, minD, maxD, constRnd(r))
		assert.GreaterOrEqual(t, d, 500*time.Millisecond, "rnd=%v", r)
		assert.Less(t, d, time.Second, "rnd=%v", r)
	}
}

func TestDelayDefaultRandom(t *testing.T) {
	t.Parallel()
	for i := 0; i < 1000; i++ {
		d := backoffDelay(3, time.Second, time.Minute, nil)
		require.GreaterOrEqual(t, d, 2*time.Second)
		require.Less(t, d, 4*time.Second)
	}
}

func TestSleepZero(t *testing.T) {
	t.Parallel()
	require.NoError(t, sleepCtx(context.Background(), 0))
	require.NoError(t, sleepCtx(context.Background(), -time.Second))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, sleepCtx(ctx, 0), context.Canceled)
	require.ErrorIs(t, sleepCtx(ctx, time.Hour), context.Canceled)
}

func TestSleepElapses(t *testing.T) {
	t.Parallel()
	require.NoError(t, sleepCtx(context.Background(), time.Millisecond))
}

func TestSleepCancelIsPrompt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sleepCtx(ctx, time.Hour) }()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second): // generous: only guards against a hang
		t.Fatal("Sleep did not return after cancel")
	}
}

func TestSleepDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	err := sleepCtx(ctx, time.Hour)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
}
