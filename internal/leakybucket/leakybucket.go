// Package leakybucket is a client-side mirror of Bitrix24's per-portal
// request limiter. Instead of letting the server refuse a request with
// HTTP 503 (QUERY_LIMIT_EXCEEDED), the client waits until the request
// would be accepted.
//
// Server model (Bitrix24 docs): every portal has a counter; each request
// adds 1; the counter drains continuously at rate per second; a request
// that would push the counter above burst is refused.
//
// The client uses GCRA ("generic cell rate algorithm"), which is that exact
// model expressed as a single "theoretical arrival time" (TAT): the moment
// the counter would drain to zero if every request reserved so far had
// already been sent. A request may be sent at time t when
// t >= TAT - (burst-1)/rate, and sending it moves TAT to max(TAT, t)+1/rate.
package leakybucket

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Bucket is a leaky bucket shared by all goroutines of a client. Safe for
// concurrent use.
//
// Each Wait reserves the earliest free slot under a mutex and then sleeps
// outside the mutex until that slot, so waiters never hold the lock while
// sleeping and the order of slots is the order of reservation.
type Bucket struct {
	rate   float64
	burst  int
	margin int

	// interval is 1/rate in nanoseconds, rounded up so the client is never
	// faster than the server. 0 means unlimited.
	interval int64
	// tolerance is how far ahead of TAT a request may go: (effective-1)*interval.
	tolerance int64

	now   func() time.Time
	after func(time.Duration) <-chan time.Time
	// base anchors the int64 nanosecond timeline; using offsets from one
	// reading of the (monotonic) clock keeps arithmetic exact and cheap.
	base time.Time

	mu sync.Mutex
	// tat is the theoretical arrival time (ns since base) covering every
	// reservation in the chain, including freed-but-not-reused ones.
	tat int64
	// free holds slots of cancelled waiters, sorted by slot, so later
	// callers can take them over instead of queuing behind them.
	free []reservation
}

// reservation is one position in the GCRA chain. prevTAT and tat let a
// cancelled reservation at the end of the chain be undone exactly.
type reservation struct {
	slot    int64 // when the request may be sent (ns since base)
	prevTAT int64 // chain TAT before this reservation
	tat     int64 // chain TAT after this reservation
}

// New returns a bucket that drains rate tokens per second and admits up to
// burst at once.
//
// rate <= 0 (or NaN, or +Inf) means unlimited: Wait returns at once unless
// ctx is done. burst < 1 is treated as 1.
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
// usable. The sustained rate is not reduced:
// after the initial burst, requests are spaced exactly 1/rate apart
// (rounded up to the nanosecond).
func New(rate float64, burst int) *Bucket {
	return NewWithClock(rate, burst, nil, nil)
}

// NewWithClock is New with an injectable clock and timer for tests, so
// waits can be verified without sleeping. now == nil means time.Now;
// after == nil means a real timer that is stopped when a wait is
// cancelled. after is only called with positive durations.
func NewWithClock(rate float64, burst int, now func() time.Time, after func(time.Duration) <-chan time.Time) *Bucket {
	if burst < 1 {
		burst = 1
	}
	if now == nil {
		now = time.Now
	}
	b := &Bucket{
		burst: burst,
		now:   now,
		after: after,
	}
	if rate > 0 && !math.IsInf(rate, 1) { // NaN fails rate > 0
		b.rate = rate
		b.margin = headroom(rate, burst)
		iv := math.Ceil(1e9 / rate)
		// Rates so low that one interval exceeds ~146 years are
		// clamped to keep the int64 timeline free of overflow.
		if iv > 1<<62 {
			iv = 1 << 62
		}
		b.interval = int64(iv)
		b.tolerance = satMul(int64(burst-b.margin-1), b.interval)
	}
	b.base = now()
	return b
}

// jitterAllowance is how much compression of the gaps between requests on their way
// to the server the headroom absorbs at high rates: connection set-up and scheduling
// can delay the first requests of a burst by tens of milliseconds more than the next.
const jitterAllowance = 100 * time.Millisecond

// headroom returns the number of slots kept free below burst; see New.
func headroom(rate float64, burst int) int {
	if burst <= 2 {
		return 0
	}
	m := burst / 20 // ceil(burst*0.05) without float rounding surprises
	if burst%20 != 0 {
		m++
	}
	if j := int(math.Ceil(rate * jitterAllowance.Seconds())); j > m {
		m = j
	}
	if m < 1 {
		m = 1
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
// slot back, so callers that arrive later are not delayed by a request that
// was never sent. When ctx's deadline is before the reserved slot, Wait
// returns an error wrapping context.DeadlineExceeded immediately, without
// waiting and without consuming a slot, because waiting could not succeed.
func (b *Bucket) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.interval == 0 {
		return nil
	}
	deadline, hasDeadline := ctx.Deadline()

	b.mu.Lock()
	now := b.now().Sub(b.base).Nanoseconds()
	r, fromFree := b.reserve(now)
	if hasDeadline && deadline.Before(b.base.Add(time.Duration(r.slot))) {
		if fromFree {
			b.insertFree(r)
		} else {
			b.tat = r.prevTAT
		}
		b.mu.Unlock()
		return fmt.Errorf("the next free slot, in %v, is after the context deadline: %w",
			time.Duration(r.slot-now), context.DeadlineExceeded)
	}
	b.mu.Unlock()

	d := time.Duration(r.slot - now)
	if d <= 0 {
		return nil
	}
	if b.sleep(ctx, d) {
		return nil
	}
	b.mu.Lock()
	b.release(r)
	b.mu.Unlock()
	return ctx.Err()
}

// reserve takes the earliest usable slot at time now. It must be called
// with b.mu held. fromFree reports whether a cancelled waiter's slot was
// reused (its chain position already exists, so undoing means putting it
// back on the free list rather than rewinding tat).
func (b *Bucket) reserve(now int64) (r reservation, fromFree bool) {
	// A freed slot is only reused at its own time: the chain that produced
	// it was conformant, and any subset of a conformant schedule is
	// conformant too. Sending it later than its slot would not be, so
	// slots that have already passed are dropped.
	stale := 0
	for stale < len(b.free) && b.free[stale].slot < now {
		stale++
	}
	if stale > 0 {
		n := copy(b.free, b.free[stale:])
		b.free = b.free[:n]
	}
	if len(b.free) > 0 {
		r = b.free[0]
		n := copy(b.free, b.free[1:])
		b.free = b.free[:n]
		return r, true
	}
	slot := satSub(b.tat, b.tolerance)
	if slot < now {
		slot = now
	}
	start := b.tat
	if start < slot {
		start = slot
	}
	r = reservation{slot: slot, prevTAT: b.tat, tat: satAdd(start, b.interval)}
	b.tat = r.tat
	return r, false
}

// release gives back the slot of a waiter whose context ended. It must be
// called with b.mu held. If the reservation is the last one in the chain
// the chain is rewound exactly (repeatedly, so a run of cancelled tail
// reservations is undone too); otherwise the slot is kept for the next
// caller.
func (b *Bucket) release(r reservation) {
	if r.tat != b.tat {
		b.insertFree(r)
		return
	}
	b.tat = r.prevTAT
	for {
		i := -1
		for j := range b.free {
			if b.free[j].tat == b.tat {
				i = j
				break
			}
		}
		if i < 0 {
			return
		}
		b.tat = b.free[i].prevTAT
		b.free = append(b.free[:i], b.free[i+1:]...)
	}
}

// insertFree adds r to the free list, keeping it sorted by slot.
func (b *Bucket) insertFree(r reservation) {
	i := sort.Search(len(b.free), func(i int) bool { return b.free[i].slot > r.slot })
	b.free = append(b.free, reservation{})
	copy(b.free[i+1:], b.free[i:])
	b.free[i] = r
}

// sleep waits d or until ctx is done and reports whether d elapsed.
func (b *Bucket) sleep(ctx context.Context, d time.Duration) bool {
	if b.after != nil {
		select {
		case <-ctx.Done():
			return false
		case <-b.after(d):
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// satAdd returns a+b for b >= 0, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// satSub returns a-b for b >= 0, saturating at math.MinInt64.
func satSub(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

// satMul returns a*b for a, b >= 0, saturating at math.MaxInt64.
func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}
