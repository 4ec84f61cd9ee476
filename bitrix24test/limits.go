package bitrix24test

import "time"

// leakyBucket is the cloud front end's per-portal request counter (§7.1): +1 per REST
// request, draining continuously at the configured rate. A request that would push the
// counter above the burst is refused and not counted.
type leakyBucket struct {
	level float64
	last  time.Time
}

// take reports whether a request may pass at now, counting it if so.
func (b *leakyBucket) take(rate float64, burst int, now time.Time) bool {
	if rate <= 0 {
		return true
	}
	if !b.last.IsZero() {
		if el := now.Sub(b.last).Seconds(); el > 0 {
			b.level -= el * rate
			if b.level < 1e-9 {
				b.level = 0
			}
		}
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.level+1 > float64(burst)+1e-9 {
		return false
	}
	b.level++
	return true
}

// Operating-time limiter constants of rest/lib/engine/access/loadlimiter.php.
const (
	limiterBucketSize  = 60 // seconds
	limiterBucketCount = 10
	limiterMinimalFix  = 100 * time.Millisecond
)

// limiterKey is (auth type, application or webhook, method); the portal is implicit.
type limiterKey struct {
	authType, entity, method string
}

type limiterBucket struct {
	sum   time.Duration
	first time.Time
}

type limiterEntry struct {
	buckets map[int64]*limiterBucket // by Unix()/60
}

// opLimiter is the LoadLimiter: 10 buckets of 60 s, executions over 0.1 s recorded (in
// a batch, a method's executions together, as LoadLimiter::finalize sums them).
type opLimiter struct {
	entries map[limiterKey]*limiterEntry
}

func bucketIndex(t time.Time) int64 { return t.Unix() / limiterBucketSize }

// live returns the entry for key with buckets outside the window removed.
func (l *opLimiter) live(key limiterKey, now time.Time) *limiterEntry {
	e := l.entries[key]
	if e == nil {
		return nil
	}
	cur := bucketIndex(now)
	for i := range e.buckets {
		if i <= cur-limiterBucketCount || i > cur {
			delete(e.buckets, i)
		}
	}
	return e
}

// usage returns the seconds used in the window and operating_reset_at (0 when nothing
// is recorded): the first call in the oldest bucket + 600 s.
func (l *opLimiter) usage(key limiterKey, now time.Time) (float64, int64) {
	e := l.live(key, now)
	if e == nil || len(e.buckets) == 0 {
		return 0, 0
	}
	var sum time.Duration
	oldest := int64(-1)
	for i, b := range e.buckets {
		sum += b.sum
		if oldest < 0 || i < oldest {
			oldest = i
		}
	}
	return sum.Seconds(), e.buckets[oldest].first.Unix() + limiterBucketSize*limiterBucketCount
}

// blocked reports whether the accumulated time is above limit.
func (l *opLimiter) blocked(key limiterKey, now time.Time, limit time.Duration) bool {
	used, _ := l.usage(key, now)
	return used > limit.Seconds()
}

// record adds an execution of d that ended at now; short ones are not recorded.
func (l *opLimiter) record(key limiterKey, now time.Time, d time.Duration) {
	if d <= limiterMinimalFix {
		return
	}
	l.add(key, now, d)
}

// pendingTime is one method's time in a batch request: all of it, and the part of
// executions too short to be recorded alone.
type pendingTime struct{ total, short time.Duration }

// addPending notes an execution of a command of the batch c.
func (c *callCtx) addPending(key limiterKey, d time.Duration) {
	if c.pending == nil {
		c.pending = map[limiterKey]*pendingTime{}
	}
	p := c.pending[key]
	if p == nil {
		p = &pendingTime{}
		c.pending[key] = p
	}
	p.total += d
	if d <= limiterMinimalFix {
		p.short += d
	}
}

// flushPending is LoadLimiter::finalize at the end of a batch request: it records a
// method's whole time in the request when that is over 0.1 s, so short executions
// count once they add up (the long ones were recorded as they ran).
func (l *opLimiter) flushPending(pending map[limiterKey]*pendingTime, now time.Time) {
	for key, p := range pending {
		if p.total > limiterMinimalFix && p.short > 0 {
			l.add(key, now, p.short)
		}
	}
}

// add records d in the bucket of now.
func (l *opLimiter) add(key limiterKey, now time.Time, d time.Duration) {
	e := l.entries[key]
	if e == nil {
		e = &limiterEntry{buckets: map[int64]*limiterBucket{}}
		l.entries[key] = e
	}
	i := bucketIndex(now)
	b := e.buckets[i]
	if b == nil {
		b = &limiterBucket{first: now}
		e.buckets[i] = b
	}
	b.sum += d
}

// clone deep-copies the limiter's buckets.
func (l *opLimiter) clone() opLimiter {
	out := opLimiter{entries: make(map[limiterKey]*limiterEntry, len(l.entries))}
	for k, e := range l.entries {
		ne := &limiterEntry{buckets: make(map[int64]*limiterBucket, len(e.buckets))}
		for i, b := range e.buckets {
			nb := *b
			ne.buckets[i] = &nb
		}
		out.entries[k] = ne
	}
	return out
}
