package bitrix24

import "time"

// WithTestClock runs the operating-time budget on another clock: now tells the time
// and after waits. Benchmarks share an accelerated clock with bitrix24test.WithClock.
func WithTestClock(now func() time.Time, after func(time.Duration) <-chan time.Time) Option {
	return func(o *options) { o.clockNow, o.clockAfter = now, after }
}

// WithOperatingMargin replaces the budget's margin below the limit, for the benchmark
// that measures the choice.
func WithOperatingMargin(d time.Duration) Option {
	return func(o *options) { o.operatingMargin = d }
}
