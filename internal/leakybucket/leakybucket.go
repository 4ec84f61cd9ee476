// Package leakybucket is a client-side mirror of Bitrix24's per-portal
// request limiter. Instead of letting the server refuse a request with
// HTTP 503 (QUERY_LIMIT_EXCEEDED), the client waits until the request
// would be accepted.
//
// Server model (Bitrix24 docs): every portal has a counter; each request
// adds 1; the counter drains continuously at rate per second; a request
// that would push the counter above burst is refused.
//
// That model admits exactly the schedules a token bucket of the same rate
// and burst admits, so the pacing itself is golang.org/x/time/rate. What
// this package adds is the headroom rule (see [New]): the client's bucket
// is smaller than the server's by a few slots, so requests squeezed
// together on their way to the server still fit.
package leakybucket

import (
	"context"
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Bucket is a leaky bucket shared by all goroutines of a client. Safe for
// concurrent use.
type Bucket struct {
	rate   float64
	burst  int
	margin int
	// lim is nil when the bucket is unlimited.
	lim *rate.Limiter
	// now and after replace the clock and the timer (NewWithClock); nil: the real ones.
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

// New returns a bucket that drains perSecond tokens per second and admits
// up to burst at once.
//
// perSecond <= 0 (or NaN, or +Inf) means unlimited: Wait returns at once
// unless ctx is done. burst < 1 is treated as 1.
//
// Headroom: the bucket keeps margin slots free below burst, so it never
// fills the server counter completely. Requests leave the client at the
// granted times but reach the server after a variable network delay; two
// requests granted exactly 1/rate apart can arrive a few milliseconds
// closer together, and a completely full server counter would then refuse
// the second one. With margin free slots the client tolerates up to
// margin/rate of such compression. margin is 0 when burst <= 2 (a free
// slot would cost half of the burst or more, and such tiny bursts are not
// used by Bitrix24 plans), otherwise max(1, ceil(burst*0.05),
// ceil(rate*100ms)), capped so at least one slot remains: 5 % of the burst
// covers real networks at Bitrix24's rates, and the 100 ms term covers the
// connection set-up of a burst at high rates (tests, local servers). For
// Bitrix24's standard limits this is burst 50 -> 47 usable, burst 250 -> 237
// usable. The sustained rate is not reduced: after the initial burst,
// requests are spaced 1/rate apart.
func New(perSecond float64, burst int) *Bucket {
	if burst < 1 {
		burst = 1
	}
	b := &Bucket{burst: burst}
	if perSecond > 0 && !math.IsInf(perSecond, 1) { // NaN fails perSecond > 0
		b.rate = perSecond
		b.margin = headroom(perSecond, burst)
		interval := 1/perSecond + truncationGuard.Seconds()
		b.lim = rate.NewLimiter(rate.Limit(1/interval), burst-b.margin)
	}
	return b
}

// NewWithClock is New on another clock: now tells the time and after waits (only
// called with positive durations). Benchmarks run the bucket on an accelerated clock
// shared with bitrix24test's WithClock; tests check its schedule without sleeping. nil
// means the real one.
func NewWithClock(perSecond float64, burst int, now func() time.Time, after func(time.Duration) <-chan time.Time) *Bucket {
	b := New(perSecond, burst)
	b.now, b.after = now, after
	return b
}

// truncationGuard lengthens the interval between requests. x/time/rate truncates each
// wait to whole nanoseconds, so it may grant a request up to 1 ns before the exact
// token-bucket instant; when the server's counter is exactly full (no headroom, burst
// <= 2) that nanosecond is a refusal. A slightly slower limiter has at least this much
// slack at every grant it makes a caller wait for. At 2/s it costs 4e-9 of the rate.
const truncationGuard = 2 * time.Nanosecond

// jitterAllowance is how much compression of the gaps between requests on their way
// to the server the headroom absorbs at high rates: connection set-up and scheduling
// can delay the first requests of a burst by tens of milliseconds more than the next.
const jitterAllowance = 100 * time.Millisecond

// headroom returns the number of slots kept free below burst; see New.
func headroom(perSecond float64, burst int) int {
	if burst <= 2 {
		return 0
	}
	m := burst / 20 // ceil(burst*0.05) without float rounding surprises
	if burst%20 != 0 {
		m++
	}
	if j := int(math.Ceil(perSecond * jitterAllowance.Seconds())); j > m {
		m = j
	}
	if m > burst-1 {
		m = burst - 1
	}
	return m
}

// Rate reports the configured drain rate in requests per second; 0 means
// unlimited.
func (b *Bucket) Rate() float64 { return b.rate }

// Burst reports the configured burst (after treating values < 1 as 1). The
// bucket itself admits Burst minus the headroom described at New.
func (b *Bucket) Burst() int { return b.burst }

// Wait blocks until one request may be sent or ctx is done.
//
// When ctx ends while waiting, Wait returns ctx.Err() promptly and gives its
// slot back (rate.Reservation.Cancel), so callers that arrive later are not
// delayed by a request that was never sent. When ctx's deadline is before
// the reserved slot, Wait returns an error wrapping
// context.DeadlineExceeded immediately, without waiting and without
// consuming a slot, because waiting could not succeed.
func (b *Bucket) Wait(ctx context.Context) error {
	if b.lim == nil {
		return ctx.Err()
	}
	if b.now != nil || b.after != nil {
		return b.waitOnClock(ctx)
	}
	err := b.lim.Wait(ctx)
	if err != nil && ctx.Err() == nil {
		// x/time/rate refuses at once, with an unwrapped error, a wait that
		// would outlast ctx's deadline (burst >= 1 rules out its other error).
		return fmt.Errorf("%w: %w", err, context.DeadlineExceeded)
	}
	return err
}

// waitOnClock is Wait on the injected clock, with the same guarantees: ctx's error when
// it ends first, the slot given back, and no wait that would outlast ctx's deadline.
func (b *Bucket) waitOnClock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now, after := time.Now, time.After
	if b.now != nil {
		now = b.now
	}
	if b.after != nil {
		after = b.after
	}
	t := now()
	r := b.lim.ReserveN(t, 1)
	d := r.DelayFrom(t)
	if d <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && deadline.Before(t.Add(d)) {
		r.CancelAt(t)
		return fmt.Errorf("the next free slot, in %v, is after the context deadline: %w", d, context.DeadlineExceeded)
	}
	select {
	case <-after(d):
		return nil
	case <-ctx.Done():
		r.CancelAt(now())
		return ctx.Err()
	}
}
