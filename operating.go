package bitrix24

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/b24go/bitrix24/internal/envelope"
)

// What the client knows of each method's operating time (reference §7.2): the figures
// of the last answer, learnt from single calls and from every command of a batch. The
// pacing built on them is in operatingbudget.go.

// OperatingTime is what the client knows of one method's budget.
type OperatingTime struct {
	Used    time.Duration // the last time.operating reported for the method
	ResetAt time.Time     // the last operating_reset_at (zero when none was reported)
}

// opState is one method's figures and the calls of it in flight. Guarded by
// opBudget.mu.
type opState struct {
	used    time.Duration // last time.operating
	resetAt time.Time     // last operating_reset_at (the portal's clock)
	// capped is set when resetAt was more than a window after the answer that reported
	// it (a skewed clock, or garbage): the client waits until then instead.
	capped time.Time
	cost   time.Duration // the server time of the method's last recorded call
	// blockedAt: when OPERATION_TIME_LIMIT arrived for the method after its last
	// answer (zero when none did).
	blockedAt time.Time
	inflight  int           // commands of the method sent by this client, unanswered
	changed   chan struct{} // closed at the next change, for waiters; nil when none
}

// opBudget holds the per-method states, keyed by the lower-cased method name.
type opBudget struct {
	mu sync.Mutex
	m  map[string]*opState
}

// state returns the state of method, creating it. Called with mu held.
func (b *opBudget) state(method string) *opState {
	key := strings.ToLower(method)
	st := b.m[key]
	if st == nil {
		if b.m == nil {
			b.m = map[string]*opState{}
		}
		st = &opState{}
		b.m[key] = st
	}
	return st
}

// until is the reset the client waits for: resetAt, or at most a window after the
// answer that reported it. Called with mu held.
func (st *opState) until() time.Time {
	if !st.capped.IsZero() {
		return st.capped
	}
	return st.resetAt
}

// notify wakes the waiters of st. Called with mu held.
func (st *opState) notify() {
	if st.changed != nil {
		close(st.changed)
		st.changed = nil
	}
}

// operatingWindow is the rolling window of the operating time (reference §7.2): a
// reset is never further ahead than that.
const operatingWindow = 10 * time.Minute

// minRecorded is the server's $minimalFixTime: shorter executions are not counted.
const minRecorded = 100 * time.Millisecond

// noteTime learns from an answer's time object (a call's, or a batch command's). The
// outer batch is not limited (its commands are), so its figures teach nothing.
func (c *Client) noteTime(method string, t envelope.Time) {
	if strings.EqualFold(method, "batch") {
		return
	}
	b := &c.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.state(method)
	st.used = seconds(t.Operating)
	if t.OperatingResetAt > 0 {
		st.resetAt = time.Unix(t.OperatingResetAt, 0)
		st.capped = time.Time{}
		if latest := c.now().Add(operatingWindow); st.resetAt.After(latest) {
			st.capped = latest
		}
	}
	// What the server records for a call is its execution time: processing, or the
	// whole duration when processing is missing or truncated to whole seconds.
	if cost := seconds(max(t.Duration, t.Processing)); cost > minRecorded {
		st.cost = cost
	}
	st.blockedAt = time.Time{}
	st.notify()
}

// noteBlocked learns from OPERATION_TIME_LIMIT: the method is over its budget until
// its reset.
func (c *Client) noteBlocked(method string) {
	b := &c.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.state(method)
	st.blockedAt = c.now()
	st.notify()
}

// annotate adds what the client knows beyond the answer to OPERATION_TIME_LIMIT: when
// the method unblocks. It also remembers that the method is blocked.
func (c *Client) annotate(method string, err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Is(ErrOperationTimeLimit) {
		c.noteBlocked(method)
		if apiErr.ResetAt.IsZero() {
			apiErr.ResetAt = c.Operating(method).ResetAt
		}
	}
	return err
}

// Operating returns the used time and reset of method (compared case-insensitively)
// as the portal last reported them, in any answer of the client: a call, or a command of
// a batch. The zero value when the method has not been answered yet.
func (c *Client) Operating(method string) OperatingTime {
	if c == nil {
		return OperatingTime{}
	}
	b := &c.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.m[strings.ToLower(method)]
	if st == nil {
		return OperatingTime{}
	}
	return OperatingTime{Used: st.used, ResetAt: st.resetAt}
}

// OperatingResetAt is the last time.operating_reset_at the portal reported for method:
// when its rolling 10-minute operating-time window next frees up. Zero when unknown.
// It is Operating(method).ResetAt.
func (c *Client) OperatingResetAt(method string) time.Time {
	return c.Operating(method).ResetAt
}
