package bitrix24redis

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/redis/go-redis/v9"
)

// Limiter is a leaky bucket kept in Redis and shared by every process that uses the same
// key: a [bitrix24.Limiter] for [bitrix24.WithLimiter]. Create it with [NewLimiter]; it is
// safe for concurrent use.
//
// Each Wait reserves the earliest free slot with one Lua script that runs atomically on the
// Redis server and reads the server's clock (TIME), then sleeps in the caller's process
// until that slot. The algorithm is GCRA, the same as the client's in-process bucket, so
// one Limiter shared by N processes paces them exactly like one client would be paced.
type Limiter struct {
	rdb       redis.UniversalClient
	key       string
	rate      float64
	burst     int
	interval  int64 // µs between requests, rounded up; 0: unlimited
	tolerance int64 // µs a request may go ahead of the chain: (usable burst - 1) * interval
	err       error // a validation error, reported by Wait

	fallback bitrix24.Limiter
	// redisDownUntil (Unix ns) makes Wait use the fallback without asking Redis until
	// then, so that an outage costs one failed round trip per fallbackProbe, not one per
	// call.
	redisDownUntil *atomic.Int64
}

// fallbackProbe is how long a Limiter with a fallback paces in-process after Redis failed
// before it asks Redis again.
const fallbackProbe = time.Second

// releaseTimeout bounds giving a slot back after the caller's context ended.
const releaseTimeout = 2 * time.Second

// NewLimiter is a leaky bucket kept in Redis under key, shared by every process that uses
// the same key (Bitrix24 counts per portal and source IP): a [bitrix24.Limiter].
//
// perSecond and burst describe the server's bucket, as in [bitrix24.WithRateLimit]
// (Bitrix24's standard plans: 2 and 50; Enterprise: 5 and 250): the limiter keeps the same
// headroom as the in-process bucket (max(1, 5 % of burst, perSecond×100 ms) slots, none
// when burst <= 2), so that requests that arrive a little closer together than they left
// are still accepted by a server bucket of exactly that shape. perSecond 0 (or +Inf) turns
// pacing off. A negative or NaN perSecond, a negative burst, a nil rdb or an empty key make
// Wait fail with an error matching [bitrix24.ErrValidation]. burst 0 is treated as 1.
//
// Use one key per portal and egress address, e.g. "bitrix24:rate:" + domain.
// The key holds a small hash that expires about a second after the bucket drains.
func NewLimiter(rdb redis.UniversalClient, key string, perSecond float64, burst int) *Limiter {
	l := &Limiter{rdb: rdb, key: key, rate: perSecond, burst: burst, redisDownUntil: new(atomic.Int64)}
	switch {
	case rdb == nil:
		l.err = &bitrix24.ValidationError{Field: "bitrix24redis.NewLimiter rdb", Rule: "must not be nil"}
	case key == "":
		l.err = &bitrix24.ValidationError{Field: "bitrix24redis.NewLimiter key", Rule: "must not be empty"}
	case perSecond < 0 || math.IsNaN(perSecond):
		l.err = &bitrix24.ValidationError{Field: "bitrix24redis.NewLimiter perSecond", Rule: "must be a number >= 0"}
	case burst < 0:
		l.err = &bitrix24.ValidationError{Field: "bitrix24redis.NewLimiter burst", Rule: "must not be negative"}
	}
	if l.burst < 1 {
		l.burst = 1
	}
	if l.err != nil || perSecond == 0 || math.IsInf(perSecond, 1) {
		return l
	}
	iv := math.Ceil(1e6 / perSecond)
	// Intervals above ~12 days are clamped: the arithmetic stays exact in Lua's doubles.
	iv = math.Min(math.Max(iv, 1), 1<<40)
	l.interval = int64(iv)
	usable := l.burst - headroom(perSecond, l.burst)
	l.tolerance = int64(math.Min(float64(usable-1)*iv, 1<<50))
	return l
}

// WithFallback returns a copy of l that, while Redis is unreachable, paces this process
// alone with an in-process leaky bucket of perSecond and burst instead of failing.
//
// The trade-off: during an outage the processes no longer share one budget. Each paces
// only itself, so N processes together may send up to N times the fallback rate and the
// portal may refuse some requests with QUERY_LIMIT_EXCEEDED (the client retries those
// with backoff). Give each process its share, e.g. the portal's rate divided by the number
// of processes, to stay within the budget; without WithFallback, Wait fails instead and
// no request leaves while Redis is down. After a failure the copy paces in-process for a
// second before it asks Redis again; what it sent meanwhile is not counted in Redis.
func (l *Limiter) WithFallback(perSecond float64, burst int) *Limiter {
	c := *l
	c.redisDownUntil = new(atomic.Int64)
	if perSecond < 0 || math.IsNaN(perSecond) || burst < 0 {
		if c.err == nil {
			c.err = &bitrix24.ValidationError{Field: "bitrix24redis.Limiter.WithFallback", Rule: "perSecond and burst must be numbers >= 0"}
		}
		return &c
	}
	c.fallback = bitrix24.NewLeakyBucket(perSecond, burst)
	return &c
}

// Wait blocks until one request may be sent or ctx is done.
//
// When ctx ends while waiting, Wait returns ctx.Err() and gives its slot back, so that
// callers in any process are not delayed by a request that was never sent. When ctx's
// deadline comes before the earliest slot, Wait returns an error matching
// [context.DeadlineExceeded] at once and reserves nothing. When Redis cannot be reached,
// Wait returns an error (never nil) within ctx's deadline, unless the Limiter was made
// with [Limiter.WithFallback].
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.err != nil {
		return l.err
	}
	if l.interval == 0 {
		return nil
	}
	if l.fallback != nil && time.Now().UnixNano() < l.redisDownUntil.Load() {
		return l.fallback.Wait(ctx)
	}
	maxWait := int64(-1)
	if dl, ok := ctx.Deadline(); ok {
		maxWait = max(time.Until(dl).Microseconds(), 0)
	}
	res, err := bounded(ctx, func(ctx context.Context) ([]int64, error) {
		return reserveScript.Run(ctx, l.rdb, []string{l.key}, l.interval, l.tolerance, maxWait).Int64Slice()
	}, func(res []int64, err error) {
		// ctx ended while the script ran: if it reserved a slot, nobody will use it.
		if err == nil && len(res) >= 5 && res[0] == 1 {
			l.release(context.Background(), res[2], res[3], res[4])
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("bitrix24redis: limiter %q: %w", l.key, ctx.Err())
		}
		if l.fallback != nil {
			l.redisDownUntil.Store(time.Now().Add(fallbackProbe).UnixNano())
			return l.fallback.Wait(ctx)
		}
		return fmt.Errorf("bitrix24redis: limiter %q: %w", l.key, err)
	}
	if len(res) < 2 || (res[0] == 1 && len(res) < 5) {
		return fmt.Errorf("bitrix24redis: limiter %q: unexpected script answer %v", l.key, res)
	}
	wait := time.Duration(res[1]) * time.Microsecond
	if res[0] != 1 {
		return fmt.Errorf("bitrix24redis: limiter %q: next slot in %v is after the context deadline: %w",
			l.key, wait, context.DeadlineExceeded)
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
	}
	l.release(ctx, res[2], res[3], res[4])
	return ctx.Err()
}

// release gives a reservation back. It runs after the caller's ctx ended, so it gets a
// short deadline of its own; if Redis cannot be reached the slot is simply lost, which
// only delays later callers.
func (l *Limiter) release(ctx context.Context, slot, prev, tat int64) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	args := []any{strconv.FormatInt(slot, 10), strconv.FormatInt(prev, 10), strconv.FormatInt(tat, 10)}
	_, _ = bounded(rctx, func(ctx context.Context) (any, error) {
		return releaseScript.Run(ctx, l.rdb, []string{l.key}, args...).Result()
	}, nil)
}

// jitterAllowance and headroom mirror the root module's in-process bucket
// (bitrix24.NewLeakyBucket), which does not export its headroom: a server bucket of exactly
// (perSecond, burst) must never refuse, whichever limiter paces the client.
const jitterAllowance = 100 * time.Millisecond

// headroom returns the number of slots kept free below burst: 0 when burst <= 2, else
// max(1, ceil(5 % of burst), ceil(rate × 100 ms)), leaving at least one usable slot.
func headroom(rate float64, burst int) int {
	if burst <= 2 {
		return 0
	}
	m := (burst + 19) / 20
	if j := math.Ceil(rate * jitterAllowance.Seconds()); j > float64(m) {
		m = int(math.Min(j, float64(burst)))
	}
	return min(max(m, 1), burst-1)
}
