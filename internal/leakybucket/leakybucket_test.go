package leakybucket

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hangGuard only protects against a test hanging forever; it is never a
// timing assertion.
const hangGuard = 10 * time.Second

// fakeClock is a manual clock. In auto mode after(d) advances the clock by d
// and fires at once, which models a single goroutine sleeping. In manual
// mode timers fire only when the test calls fireNext.
type fakeClock struct {
	mu         sync.Mutex
	now        time.Time
	auto       bool
	timers     []fakeTimer
	registered chan time.Duration // every after() duration, in call order
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(auto bool) *fakeClock {
	// Start at the real time so real context deadlines expressed relative
	// to the fake clock are not already expired.
	return &fakeClock{now: time.Now(), auto: auto, registered: make(chan time.Duration, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if c.auto {
		c.now = c.now.Add(d)
		ch <- c.now
	} else {
		c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	}
	c.registered <- d
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fireNext moves the clock to the earliest pending timer and fires every
// timer due at that instant. It returns the instant and how many fired.
func (c *fakeClock) fireNext(t *testing.T) (time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	require.NotEmpty(t, c.timers, "no pending timer to fire")
	sort.Slice(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
	at := c.timers[0].at
	if at.After(c.now) {
		c.now = at
	}
	n := 0
	for n < len(c.timers) && !c.timers[n].at.After(c.now) {
		c.timers[n].ch <- c.now
		n++
	}
	c.timers = c.timers[n:]
	return at, n
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatal("timed out waiting for channel (hang guard)")
		var zero T
		return zero
	}
}

// serverAccepts replays request arrival times (offsets) through the
// Bitrix24 server model and fails if the counter would exceed burst.
func serverAccepts(t *testing.T, times []time.Duration, rate float64, burst int) {
	t.Helper()
	ts := append([]time.Duration(nil), times...)
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	var counter float64
	for i, at := range ts {
		if i > 0 {
			counter -= rate * (at - ts[i-1]).Seconds()
			if counter < 0 {
				counter = 0
			}
		}
		counter++
		require.LessOrEqualf(t, counter, float64(burst)+1e-9,
			"server would refuse request %d at %v (counter %.4f > burst %d)", i, at, counter, burst)
	}
}

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
		assert.GreaterOrEqual(t, b.Burst()-b.margin, 1, "burst %d leaves no slot", tc.burst)
	}
	// At high rates the headroom also covers 100ms of arrival jitter.
	assert.Equal(t, 10, New(100, 50).margin)
	assert.Equal(t, 49, New(1000, 50).margin, "capped so one slot remains")
	assert.Equal(t, 2.0, New(2, 50).Rate())
	assert.Equal(t, 0.0, New(-1, 50).Rate())
}

// grantTimes calls Wait n times sequentially on an auto-advancing clock
// and returns the grant times as offsets from start.
func grantTimes(t *testing.T, b *Bucket, clk *fakeClock, start time.Time, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		require.NoError(t, b.Wait(context.Background()))
		out = append(out, clk.Now().Sub(start))
	}
	return out
}

func TestBurstThenSpacing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rate     float64
		burst    int
		interval time.Duration
	}{
		{2, 50, 500 * time.Millisecond},
		{5, 250, 200 * time.Millisecond},
		{1, 1, time.Second},
		{10, 2, 100 * time.Millisecond},
		{3, 10, 333333334}, // 1/3 s rounded up: never faster than the server
	}
	for _, tc := range cases {
		clk := newFakeClock(true)
		b := NewWithClock(tc.rate, tc.burst, clk.Now, clk.After)
		start := clk.Now()
		usable := tc.burst - b.margin
		got := grantTimes(t, b, clk, start, usable+20)
		for i := 0; i < usable; i++ {
			require.Zero(t, got[i], "rate %v burst %d call %d should pass at once", tc.rate, tc.burst, i)
		}
		for k := 1; k <= 20; k++ {
			require.Equal(t, time.Duration(k)*tc.interval, got[usable+k-1], "rate %v burst %d spaced call %d", tc.rate, tc.burst, k)
		}
		serverAccepts(t, got, tc.rate, usable)
	}
}

func TestRefillAfterIdle(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(true)
	b := NewWithClock(2, 50, clk.Now, clk.After)
	const usable, interval = 47, 500 * time.Millisecond
	grantTimes(t, b, clk, clk.Now(), usable+3) // drain completely

	clk.Advance(time.Hour) // far longer than a full drain
	start := clk.Now()
	got := grantTimes(t, b, clk, start, usable+1)
	for i := 0; i < usable; i++ {
		require.Zero(t, got[i], "call %d after full refill", i)
	}
	require.Equal(t, interval, got[usable])

	// A partial idle refills proportionally: 5 intervals -> 5 free slots.
	clk.Advance(5 * interval)
	start = clk.Now()
	got = grantTimes(t, b, clk, start, 7)
	assert.Equal(t, []time.Duration{0, 0, 0, 0, 0, interval, 2 * interval}, got)
}

func TestConcurrentWaitersGetDistinctConformingSlots(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rate  float64
		burst int
	}{
		{2, 50}, {10, 5}, {1, 1}, {5, 250}, {20, 3},
	}
	for _, tc := range cases {
		const n = 100
		clk := newFakeClock(false)
		b := NewWithClock(tc.rate, tc.burst, clk.Now, clk.After)
		start := clk.Now()
		results := make(chan time.Time, n)
		for i := 0; i < n; i++ {
			go func() {
				if err := b.Wait(context.Background()); err != nil {
					results <- time.Time{}
					return
				}
				// The test does not move the clock until it has received
				// this value, so Now is exactly the grant time.
				results <- clk.Now()
			}()
		}
		var granted []time.Duration
		pending := 0
		for pending+len(granted) < n {
			select {
			case <-clk.registered:
				pending++
			case at := <-results:
				require.False(t, at.IsZero(), "Wait failed")
				granted = append(granted, at.Sub(start))
			case <-time.After(hangGuard):
				t.Fatal("waiters did not start (hang guard)")
			}
		}
		for len(granted) < n {
			at, fired := clk.fireNext(t)
			for i := 0; i < fired; i++ {
				got := recv(t, results)
				require.Equal(t, at, got)
				granted = append(granted, got.Sub(start))
			}
		}

		usable := tc.burst - b.margin
		interval := time.Duration(math.Ceil(1e9 / tc.rate))
		sort.Slice(granted, func(i, j int) bool { return granted[i] < granted[j] })
		want := make([]time.Duration, n)
		for i := range want {
			if i >= usable {
				want[i] = time.Duration(i-usable+1) * interval
			}
		}
		require.Equal(t, want, granted, "rate %v burst %d", tc.rate, tc.burst)

		serverAccepts(t, granted, tc.rate, tc.burst)
		if b.margin > 0 {
			// Network jitter of +-1ms between client and server must
			// still never provoke a refusal.
			for seed := uint64(1); seed <= 20; seed++ {
				rng := rand.New(rand.NewPCG(seed, 42))
				jittered := make([]time.Duration, len(granted))
				for i, g := range granted {
					jittered[i] = g + time.Duration(rng.Int64N(int64(2*time.Millisecond)+1)) - time.Millisecond
				}
				serverAccepts(t, jittered, tc.rate, tc.burst)
			}
		}
	}
}

// startWaiter runs Wait in a goroutine, waits until it is parked on a timer
// and returns the timer duration and the channel with Wait's result.
func startWaiter(t *testing.T, b *Bucket, clk *fakeClock, ctx context.Context) (time.Duration, <-chan error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- b.Wait(ctx) }()
	return recv(t, clk.registered), errc
}

func TestCancelReturnsPromptlyAndRefundsSlot(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(false)
	b := NewWithClock(1, 1, clk.Now, clk.After)
	require.NoError(t, b.Wait(context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	d, errc := startWaiter(t, b, clk, ctx)
	require.Equal(t, time.Second, d)
	cancel()
	require.ErrorIs(t, recv(t, errc), context.Canceled)

	// The next caller gets the cancelled slot, not the one after it.
	d, errc = startWaiter(t, b, clk, context.Background())
	assert.Equal(t, time.Second, d)
	clk.fireNext(t)
	require.NoError(t, recv(t, errc))
}

func TestCancelMiddleSlotIsReused(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(false)
	b := NewWithClock(1, 1, clk.Now, clk.After)
	require.NoError(t, b.Wait(context.Background()))

	ctxA, cancelA := context.WithCancel(context.Background())
	dA, errA := startWaiter(t, b, clk, ctxA)
	dB, errB := startWaiter(t, b, clk, context.Background())
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second}, []time.Duration{dA, dB})

	cancelA()
	require.ErrorIs(t, recv(t, errA), context.Canceled)

	dC, errC := startWaiter(t, b, clk, context.Background())
	dD, errD := startWaiter(t, b, clk, context.Background())
	assert.Equal(t, time.Second, dC, "C takes A's freed slot")
	assert.Equal(t, 3*time.Second, dD, "D queues after B")

	for i := 0; i < 3; i++ {
		clk.fireNext(t)
	}
	require.NoError(t, recv(t, errB))
	require.NoError(t, recv(t, errC))
	require.NoError(t, recv(t, errD))
}

func TestCancelTailRewindsChain(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(false)
	b := NewWithClock(1, 1, clk.Now, clk.After)
	require.NoError(t, b.Wait(context.Background()))

	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	_, errA := startWaiter(t, b, clk, ctxA)
	_, errB := startWaiter(t, b, clk, ctxB)
	// Cancel the earlier one first so the rewind has to cascade through
	// the free list when the tail goes.
	cancelA()
	require.ErrorIs(t, recv(t, errA), context.Canceled)
	cancelB()
	require.ErrorIs(t, recv(t, errB), context.Canceled)

	b.mu.Lock()
	assert.Empty(t, b.free)
	b.mu.Unlock()

	dC, errC := startWaiter(t, b, clk, context.Background())
	dD, errD := startWaiter(t, b, clk, context.Background())
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, []time.Duration{dC, dD})
	clk.fireNext(t)
	clk.fireNext(t)
	require.NoError(t, recv(t, errC))
	require.NoError(t, recv(t, errD))
}

func TestDeadlineBeforeSlotFailsImmediately(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(false)
	b := NewWithClock(0.001, 1, clk.Now, clk.After) // one request per 1000s
	require.NoError(t, b.Wait(context.Background()))

	ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(500*time.Second))
	defer cancel()
	err := b.Wait(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, ctx.Err(), "must fail before the deadline, not by reaching it")
	select {
	case d := <-clk.registered:
		t.Fatalf("Wait started a %v timer despite the deadline", d)
	default:
	}

	// The refused call did not consume the slot.
	d, errc := startWaiter(t, b, clk, context.Background())
	assert.Equal(t, 1000*time.Second, d)
	clk.fireNext(t)
	require.NoError(t, recv(t, errc))

	// A deadline at or after the slot is fine.
	ctx2, cancel2 := context.WithDeadline(context.Background(), clk.Now().Add(1000*time.Second))
	defer cancel2()
	d, errc = startWaiter(t, b, clk, ctx2)
	assert.Equal(t, 1000*time.Second, d)
	clk.fireNext(t)
	require.NoError(t, recv(t, errc))
}

func TestUnlimitedNeverWaits(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		after := func(time.Duration) <-chan time.Time {
			t.Errorf("rate %v: unlimited bucket must not wait", rate)
			return nil
		}
		b := NewWithClock(rate, 1, nil, after)
		assert.Zero(t, b.Rate())
		for i := 0; i < 1000; i++ {
			require.NoError(t, b.Wait(context.Background()))
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, b.Wait(ctx), context.Canceled)
	}
}

func TestDoneContextConsumesNothing(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(true)
	b := NewWithClock(1, 1, clk.Now, clk.After)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 10; i++ {
		require.ErrorIs(t, b.Wait(ctx), context.Canceled)
	}
	start := clk.Now()
	assert.Equal(t, []time.Duration{0, time.Second}, grantTimes(t, b, clk, start, 2))
}

// TestRealTimerCancel exercises the default (real) timer path: the only
// test that waits on the real clock, and it returns as soon as it cancels.
func TestRealTimerCancel(t *testing.T) {
	t.Parallel()
	b := New(0.001, 1)
	require.NoError(t, b.Wait(context.Background()))
	b.mu.Lock()
	tatAfterFirst := b.tat
	b.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.Wait(ctx) }()
	time.Sleep(5 * time.Millisecond) // let it park; correctness does not depend on it
	cancel()
	err := recv(t, errc)
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)

	// The slot was refunded: the chain is back to a single reservation.
	b.mu.Lock()
	assert.Equal(t, tatAfterFirst, b.tat)
	assert.Empty(t, b.free)
	b.mu.Unlock()
}

func TestLowRateDoesNotOverflow(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(false)
	b := NewWithClock(1e-300, math.MaxInt, clk.Now, clk.After)
	for i := 0; i < 100; i++ {
		require.NoError(t, b.Wait(context.Background()))
	}
	b2 := NewWithClock(1e-300, 1, clk.Now, clk.After)
	require.NoError(t, b2.Wait(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	require.ErrorIs(t, b2.Wait(ctx), context.DeadlineExceeded)
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
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := bucket.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
