package leakybucket

import (
	"context"
	"errors"
	"testing"
	"time"
)

// On an injected clock the bucket keeps the schedule of the real one: the usable burst
// at once, then one request per interval, and a cancelled or hopeless wait takes no slot.
func TestNewWithClockSchedule(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	var waited []time.Duration
	now := func() time.Time { return clock }
	after := func(d time.Duration) <-chan time.Time {
		waited = append(waited, d)
		clock = clock.Add(d)
		ch := make(chan time.Time, 1)
		ch <- clock
		return ch
	}
	b := NewWithClock(2, 50, now, after)
	ctx := context.Background()
	for i := range 47 {
		if err := b.Wait(ctx); err != nil {
			t.Fatal(i, err)
		}
	}
	if len(waited) != 0 {
		t.Fatalf("the usable burst waited: %v", waited)
	}
	short, cancel := context.WithDeadline(ctx, clock.Add(100*time.Millisecond))
	defer cancel()
	if err := b.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait past the deadline: %v", err)
	}
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if len(waited) != 1 || waited[0] < 499*time.Millisecond || waited[0] > 501*time.Millisecond {
		t.Fatalf("waits %v, want one of 500ms (the refused wait took no slot)", waited)
	}
}
