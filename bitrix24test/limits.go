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

// opLimiter is the LoadLimiter: 10 buckets of 60 s, executions over 0.1 s recorded.
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
