package bitrix24redis_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24redis"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/redis/go-redis/v9"
)

// A rate so low that after the burst the next slot is ~17 minutes away: every Wait either
// passes at once or is refused at once by its ctx deadline, which makes admissions exact
// and independent of the machine's speed.
const glacial = 0.001

// Many goroutines on several Redis clients (as several processes would be) share one
// bucket: exactly the usable burst passes, whatever the interleaving. A limiter that read
// and wrote the bucket in separate steps would let more through.
func TestLimiterAtomicAcrossClients(t *testing.T) {
	r := startRedis(t)
	const burst, usable = 20, 19 // headroom: 5 % of 20
	var limiters []*bitrix24redis.Limiter
	for range 4 {
		limiters = append(limiters, bitrix24redis.NewLimiter(r.client(t), "b24:rate:atomic", glacial, burst))
	}
	var passed, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 80 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := limiters[i%len(limiters)].Wait(ctx)
			switch {
			case err == nil:
				passed.Add(1)
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
				refused.Add(1)
			default:
				t.Errorf("Wait: %v", err)
			}
		})
	}
	wg.Wait()
	if passed.Load() != usable || refused.Load() != 80-usable {
		t.Fatalf("passed %d, refused %d; want %d and %d", passed.Load(), refused.Load(), usable, 80-usable)
	}
}

// Clients of the SDK sharing the limiter through WithLimiter never overrun the fake
// portal's bucket of the same shape, and calls the limiter refuses are never sent.
func TestLimiterPacesClientsAgainstPortal(t *testing.T) {
	r := startRedis(t)
	const burst = 20
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(glacial, burst))
	t.Cleanup(srv.Close)
	var clients []*bitrix24.Client
	for range 3 {
		l := bitrix24redis.NewLimiter(r.client(t), "b24:rate:portal", glacial, burst)
		c, err := bitrix24.NewWebhookClient(srv.WebhookURL(), bitrix24.WithHTTPClient(srv.Client()),
			bitrix24.WithLimiter(l), bitrix24.WithRetry(0, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for i := range 45 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := clients[i%len(clients)].Call(ctx, "server.time", nil, nil)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, context.DeadlineExceeded):
				limited.Add(1)
			default:
				t.Errorf("Call: %v", err)
			}
		})
	}
	wg.Wait()
	if n := srv.QueryLimitRefusals(); n != 0 {
		t.Errorf("the portal refused %d requests", n)
	}
	if ok.Load() != burst-1 || limited.Load() != 45-(burst-1) {
		t.Errorf("%d calls reached the portal and %d were held back; want %d and %d", ok.Load(), limited.Load(), burst-1, 45-(burst-1))
	}
}

// waitingOn starts Wait in a goroutine and returns once its reservation is visible in
// Redis (the bucket's "tat" changed), with the channel of its result and its cancel.
func waitingOn(t *testing.T, rdb *redis.Client, l *bitrix24redis.Limiter, key string) (<-chan error, context.CancelFunc) {
	t.Helper()
	before, _ := rdb.HGet(context.Background(), key, "tat").Result()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, _ := rdb.HGet(context.Background(), key, "tat").Result()
		if cur != before {
			return done, cancel
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("Wait returned %v before it waited", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("no reservation appeared in Redis")
		}
		time.Sleep(time.Millisecond)
	}
}

// probe tells whether a slot is free within the next ~25 minutes (1.5 intervals at the
// glacial rate): it reserves (and then waits, until we cancel it: context.Canceled) or is
// refused at once because the slot is beyond its deadline (context.DeadlineExceeded).
func probe(t *testing.T, l *bitrix24redis.Limiter) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	select {
	case err := <-done:
		return err // refused at once
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	return <-done
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Wait did not return after its ctx ended")
		return nil
	}
}

// A waiter at the end of the queue that gives up rewinds the bucket: the next caller gets
// its slot instead of the one after it.
func TestLimiterGivesBackSlotOnCancel(t *testing.T) {
	r := startRedis(t)
	rdb := r.client(t)
	const key = "b24:rate:giveback"
	l := bitrix24redis.NewLimiter(rdb, key, glacial, 1) // one at once, then one per 1000 s
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	done, cancel := waitingOn(t, rdb, l, key)
	cancel()
	if err := result(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Wait returned %v, want context.Canceled", err)
	}
	// The slot at +1000 s is free again: a caller with a deadline at +1500 s takes it.
	if err := probe(t, l); !errors.Is(err, context.Canceled) {
		t.Fatalf("after the give-back the next caller got %v; want it to wait for the freed slot", err)
	}
}

// A waiter in the middle of the queue that gives up leaves its slot to the next caller,
// at its own time.
func TestLimiterGivesBackMiddleSlot(t *testing.T) {
	r := startRedis(t)
	rdb := r.client(t)
	const key = "b24:rate:middle"
	l := bitrix24redis.NewLimiter(rdb, key, glacial, 1)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	doneB, cancelB := waitingOn(t, rdb, l, key) // slot +1000 s
	doneC, cancelC := waitingOn(t, rdb, l, key) // slot +2000 s
	defer cancelC()
	cancelB()
	if err := result(t, doneB); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Wait returned %v", err)
	}
	if err := probe(t, l); !errors.Is(err, context.Canceled) {
		t.Fatalf("the next caller got %v; want it to take the freed slot at +1000 s", err)
	}
	// That slot was given back again by probe; C still holds +2000 s.
	cancelC()
	if err := result(t, doneC); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Wait returned %v", err)
	}
	// Both given back: the whole chain rewinds, and a caller gets +1000 s again.
	if err := probe(t, l); !errors.Is(err, context.Canceled) {
		t.Fatalf("after both gave up the next caller got %v", err)
	}
}

// A ctx whose deadline comes before the next slot is refused at once and takes nothing.
func TestLimiterDeadlineBeforeSlot(t *testing.T) {
	r := startRedis(t)
	l := bitrix24redis.NewLimiter(r.client(t), "b24:rate:deadline", glacial, 1)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := l.Wait(ctx)
		alive := ctx.Err() == nil
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !alive {
			t.Fatalf("Wait = %v (ctx alive: %v); want an immediate DeadlineExceeded", err, alive)
		}
	}
	// Nothing was reserved by the refused calls: the slot at +1000 s is still free.
	if err := probe(t, l); !errors.Is(err, context.Canceled) {
		t.Fatalf("refused calls took slots: next caller got %v", err)
	}
}

func TestLimiterCancelledContext(t *testing.T) {
	r := startRedis(t)
	l := bitrix24redis.NewLimiter(r.client(t), "b24:rate:cancelled", 2, 50)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled ctx = %v", err)
	}
}

// Redis refusing connections: an error at once, not nil, not a hang.
func TestLimiterRedisDown(t *testing.T) {
	rdb := newClient(t, closedAddr(t))
	l := bitrix24redis.NewLimiter(rdb, "b24:rate:down", 2, 50)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := l.Wait(ctx)
	if err == nil {
		t.Fatal("Wait succeeded without Redis")
	}
	if ctx.Err() != nil {
		t.Fatalf("Wait took until its deadline: %v", err)
	}
}

// Redis accepting connections and never answering: Wait ends with ctx's deadline.
func TestLimiterRedisHangs(t *testing.T) {
	rdb := newClient(t, silentAddr(t))
	l := bitrix24redis.NewLimiter(rdb, "b24:rate:hang", 2, 50)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want DeadlineExceeded", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Wait hung on a silent Redis")
	}
}

func TestLimiterFallback(t *testing.T) {
	rdb := newClient(t, closedAddr(t))
	l := bitrix24redis.NewLimiter(rdb, "b24:rate:fallback", 2, 50).WithFallback(1, 10)
	for i := range 5 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatalf("Wait %d with fallback: %v", i, err)
		}
	}
	// The fallback is a real bucket: beyond its burst the next slot is a second away.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 5; i < 9; i++ { // 10 - headroom(1) = 9 at once
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("Wait %d: %v", i, err)
		}
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if err := l.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait beyond the fallback's burst = %v", err)
	}
}

func TestLimiterValidation(t *testing.T) {
	rdb := newClient(t, closedAddr(t))
	for name, l := range map[string]*bitrix24redis.Limiter{
		"nil client":     bitrix24redis.NewLimiter(nil, "k", 2, 50),
		"empty key":      bitrix24redis.NewLimiter(rdb, "", 2, 50),
		"negative rate":  bitrix24redis.NewLimiter(rdb, "k", -1, 50),
		"NaN rate":       bitrix24redis.NewLimiter(rdb, "k", math.NaN(), 50),
		"negative burst": bitrix24redis.NewLimiter(rdb, "k", 2, -1),
		"bad fallback":   bitrix24redis.NewLimiter(rdb, "k", 2, 50).WithFallback(-1, 1),
	} {
		if err := l.Wait(context.Background()); !errors.Is(err, bitrix24.ErrValidation) {
			t.Errorf("%s: Wait = %v, want ErrValidation", name, err)
		}
	}
	// Rate 0 and +Inf turn pacing off: no Redis needed.
	for _, rate := range []float64{0, math.Inf(1)} {
		if err := bitrix24redis.NewLimiter(rdb, "k", rate, 1).Wait(context.Background()); err != nil {
			t.Errorf("rate %v: Wait = %v", rate, err)
		}
	}
}
