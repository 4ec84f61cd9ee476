package bitrix24

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The hold rule: the last figure, plus the cost of the method's calls in flight and of
// all but the last of the commands about to go, plus the margin, against the limit.
func TestOperatingHoldRule(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	reset := now.Add(5 * time.Minute)
	const limit, margin = 480 * time.Second, 24 * time.Second
	tests := []struct {
		name     string
		st       opState
		n        int
		blocked  bool
		limit    time.Duration
		wantWait bool
		until    time.Time
	}{
		{"far from the limit", opState{used: 400 * time.Second, resetAt: reset, cost: 30 * time.Second, inflight: 1}, 1, false, limit, false, time.Time{}},
		{"in flight fill the margin", opState{used: 400 * time.Second, resetAt: reset, cost: 30 * time.Second, inflight: 2}, 1, false, limit, true, reset},
		{"a batch of 3 commands", opState{used: 400 * time.Second, resetAt: reset, cost: 30 * time.Second}, 3, false, limit, true, reset},
		{"at the margin", opState{used: 456 * time.Second, resetAt: reset}, 1, false, limit, true, reset},
		{"just below the margin", opState{used: 455 * time.Second, resetAt: reset}, 1, false, limit, false, time.Time{}},
		{"no reset known", opState{used: 470 * time.Second}, 1, false, limit, false, time.Time{}},
		{"budget off", opState{used: 470 * time.Second, resetAt: reset}, 1, false, 0, false, time.Time{}},
		{"reset passed: the probe", opState{used: 470 * time.Second, resetAt: now.Add(-time.Second)}, 1, false, limit, false, time.Time{}},
		{"reset passed, a probe in flight", opState{used: 470 * time.Second, resetAt: now.Add(-time.Second), inflight: 1}, 1, false, limit, true, time.Time{}},
		{"refused: until the reset", opState{used: 10 * time.Second, resetAt: reset, blockedAt: now}, 1, false, limit, true, reset},
		{"refused, budget off", opState{resetAt: reset, blockedAt: now}, 1, false, 0, false, time.Time{}},
		{"refused, WithOperatingWait", opState{resetAt: reset, blockedAt: now}, 1, true, 0, true, reset},
		{"refused after the known reset", opState{resetAt: now.Add(-time.Minute), blockedAt: now}, 1, true, 0, true, now.Add(blockedRetryGap)},
		{"refused, no reset known", opState{blockedAt: now}, 1, true, limit, true, now.Add(unknownResetGap)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			until, wait := st.hold(tt.n, now, tt.limit, margin, tt.blocked)
			assert.Equal(t, tt.wantWait, wait)
			assert.Equal(t, tt.until, until)
		})
	}
}
