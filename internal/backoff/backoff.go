// Package backoff computes retry delays and sleeps for them without
// outliving the caller's context.
//
// It exists so every retry loop in the SDK (rate-limit 503s, transient
// network errors, token refresh races) spreads its retries the same way:
// exponential growth keeps a struggling portal from being hammered, and
// jitter keeps many goroutines that failed together from retrying together.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay returns the wait before retry number attempt (attempt 1 = first
// retry): an exponential minDelay*2^(attempt-1) capped at maxDelay, with
// "equal jitter" applied.
//
// Equal jitter keeps half of the nominal delay fixed and randomises the
// other half, so retries from many goroutines spread out (no thundering
// herd) while none of them waits less than half the nominal delay (a fully
// random delay could retry almost immediately and defeat the backoff).
// The result is in [nominal - nominal/2, nominal).
//
// minDelay <= 0 returns 0 (backoff disabled). maxDelay < minDelay is treated
// as maxDelay == minDelay. attempt < 1 is treated as 1. Huge attempt
// numbers cannot overflow: doubling stops as soon as the cap is reached.
// rnd must return a float64 in [0,1); nil means math/rand/v2.Float64.
// Values outside [0,1) (including NaN) are clamped so a bad source cannot
// produce a negative or over-cap delay.
func Delay(attempt int, minDelay, maxDelay time.Duration, rnd func() float64) time.Duration {
	if minDelay <= 0 {
		return 0
	}
	if maxDelay < minDelay {
		maxDelay = minDelay
	}
	nominal := minDelay
	// Double until the cap; the loop runs at most ~63 times because the
	// delay at least doubles each step and stops at maxDelay.
	for i := 1; i < attempt && nominal < maxDelay; i++ {
		if nominal > maxDelay/2 {
			nominal = maxDelay
			break
		}
		nominal *= 2
	}
	if nominal > maxDelay {
		nominal = maxDelay
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	r := rnd()
	switch {
	case r >= 0 && r < 1:
	case r >= 1:
		r = 0.999999
	default: // negative or NaN
		r = 0
	}
	half := nominal / 2
	fixed := nominal - half
	jitter := time.Duration(float64(half) * r)
	// float64 has 53 bits of mantissa, so for very large delays the product
	// can round up to half (or beyond); clamp to keep the result below the
	// nominal delay and away from int64 overflow.
	if jitter >= half {
		jitter = half - 1
	}
	if jitter < 0 {
		jitter = 0
	}
	return fixed + jitter
}

// Sleep waits d or until ctx is done, whichever comes first, and returns
// ctx.Err() in the latter case so retry loops stop as soon as the caller
// gives up. d <= 0 returns ctx.Err() at once (nil when ctx is live), which
// lets callers use Sleep as a cancellation check between attempts.
// The timer is stopped on return so cancelled sleeps do not keep timers
// alive until they would have fired.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
