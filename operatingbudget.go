package bitrix24

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultOperatingBudget is the operating time a method may use per application or
// webhook in the rolling 10 minutes on cloud portals (reference §7.2).
const DefaultOperatingBudget = 480 * time.Second

// operatingMarginDiv sets the margin kept below the limit: limit/operatingMarginDiv
// (24 s of 480). It covers what the client cannot see: calls of other processes (and
// other clients) in flight, which still add their time after the figure it holds was
// reported. docs/performance.md ("Operating-time budget") has the measurement behind it.
const operatingMarginDiv = 20

// After OPERATION_TIME_LIMIT, when the reset the client knows has passed (its clock is
// behind the portal's), the method waits blockedRetryGap before it tries again; when it
// knows no reset (the method was never answered), unknownResetGap: the window moves by
// one 60 s bucket at a time.
const (
	blockedRetryGap = time.Second
	unknownResetGap = time.Minute
)

// WithOperatingBudget paces each method by the execution time the portal reports for it
// (time.operating over the rolling 10 minutes, per application and method). When a
// method's reported time nears limit, its next calls wait until the reported
// operating_reset_at instead of being blocked with OPERATION_TIME_LIMIT. A wait longer
// than ctx allows returns at once an error matching ErrOperationTimeLimit (with ResetAt).
// Default: on, limit 480 s (the cloud's documented value). WithOperatingBudget(0): off.
//
// "Nears" leaves room for the calls of the method this client has in flight (each
// counted at the method's last reported cost) and a margin of a twentieth of limit for
// those of other processes. Calls of other methods are never held.
func WithOperatingBudget(limit time.Duration) Option {
	return func(o *options) {
		if limit < 0 {
			o.fail("WithOperatingBudget", "must not be negative (0 turns it off)")
			return
		}
		o.operatingLimit = limit
	}
}

// WithOperatingWait: when OPERATION_TIME_LIMIT arrives all the same, wait for the reset
// (at most max) and send the call again; it was refused before it ran, so any method may
// be repeated. Default 0: return the error at once.
//
// It applies to calls and to the calls of [WithAutoBatch]; a command of [Client.Batch]
// refused that way is in [BatchResult.Errors] (with ResetAt), as the batch may depend on
// its order.
func WithOperatingWait(maxWait time.Duration) Option {
	return func(o *options) {
		if maxWait < 0 {
			o.fail("WithOperatingWait", "must not be negative")
			return
		}
		o.operatingWait = maxWait
	}
}

// margin is what the budget keeps below the limit.
func (c *Client) margin() time.Duration {
	if c.opts.operatingMargin > 0 {
		return c.opts.operatingMargin
	}
	return c.opts.operatingLimit / operatingMarginDiv
}

// now and after are the client's clock; tests and benchmarks replace them.
func (c *Client) now() time.Time {
	if c.opts.clockNow != nil {
		return c.opts.clockNow()
	}
	return time.Now()
}

func (c *Client) after(d time.Duration) <-chan time.Time {
	if c.opts.clockAfter != nil {
		return c.opts.clockAfter(d)
	}
	return time.After(d)
}

// opHold is why a method's commands may not go yet: until a time (zero: until the
// figures change), or until changed is closed, whichever comes first.
type opHold struct {
	method  string
	until   time.Time
	resetAt time.Time
	changed chan struct{}
}

// opCount is n commands of one method (lower-cased).
type opCount struct {
	key string
	n   int
}

// opClaim is the commands holdOperating let go, counted in flight until release.
type opClaim struct {
	b      *opBudget
	counts []opCount
}

// release ends the flight of the claim's commands.
func (cl opClaim) release() {
	if cl.b != nil {
		cl.b.release(cl.counts)
	}
}

// holdOperating waits until the budget lets every command go (methods holds one name
// per command, repeats allowed), and counts them in flight until the claim's release.
// retry is set after OPERATION_TIME_LIMIT: the wait is then for the reset even with the
// budget off, and must end by retry (WithOperatingWait's bound).
//
// Every operating-budget wait goes through waitOperating, the one place where such a
// wait starts and ends.
func (c *Client) holdOperating(ctx context.Context, methods []string, retry time.Time) (opClaim, error) {
	if (c.opts.operatingLimit <= 0 && retry.IsZero()) || len(methods) == 0 {
		return opClaim{}, nil
	}
	counts := countMethods(methods)
	for {
		h, ok := c.budget.tryHold(counts, c.now(), c.opts.operatingLimit, c.margin(), !retry.IsZero())
		if ok {
			return opClaim{b: &c.budget, counts: counts}, nil
		}
		if err := c.waitOperating(ctx, h, retry); err != nil {
			return opClaim{}, err
		}
	}
}

// waitOperating is one operating-budget wait: for h.until (the method's reset) or the
// next change of its figures, whichever comes first. It refuses at once a wait that ctx
// (or retry) cannot afford. The wait starts at the top and ends at the return.
func (c *Client) waitOperating(ctx context.Context, h opHold, retry time.Time) (err error) {
	if err := c.afford(ctx, h, retry); err != nil {
		c.observeOperatingWait(ctx, h.method, 0, err)
		return err
	}
	start := c.now()
	defer func() { c.observeOperatingWait(ctx, h.method, c.now().Sub(start), err) }()
	var timer <-chan time.Time
	if !h.until.IsZero() {
		timer = c.after(h.until.Sub(c.now()))
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("bitrix24: %s: %w while waiting for the operating-time reset", h.method, ctx.Err())
	case <-timer:
	case <-h.changed:
	}
	return nil
}

// countMethods counts the commands of each method, compared case-insensitively.
func countMethods(methods []string) []opCount {
	counts := make([]opCount, 0, 1)
	for _, m := range methods {
		key := strings.ToLower(m)
		i := slices.IndexFunc(counts, func(c opCount) bool { return c.key == key })
		if i < 0 {
			counts = append(counts, opCount{key: key})
			i = len(counts) - 1
		}
		counts[i].n++
	}
	return counts
}

// afford refuses at once a wait that would outlast ctx's deadline (or retry's bound).
func (c *Client) afford(ctx context.Context, h opHold, retry time.Time) error {
	if h.until.IsZero() {
		return nil
	}
	deadline, ok := ctx.Deadline()
	if !retry.IsZero() && (!ok || retry.Before(deadline)) {
		deadline, ok = retry, true
	}
	if !ok || !deadline.Before(h.until) {
		return nil
	}
	return &APIError{
		Code:        "OPERATION_TIME_LIMIT",
		Description: "the method's operating time is near its limit and ctx ends before the reset; nothing was sent",
		Method:      h.method,
		ResetAt:     h.resetAt,
	}
}

// tryHold counts the commands in flight if every method may go at now, and otherwise
// says what to wait for. With blocked, a method that OPERATION_TIME_LIMIT refused waits
// for its reset whatever the budget.
func (b *opBudget) tryHold(counts []opCount, now time.Time, limit, margin time.Duration, blocked bool) (opHold, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range counts {
		st := b.m[c.key]
		if st == nil {
			continue
		}
		if until, wait := st.hold(c.n, now, limit, margin, blocked); wait {
			if st.changed == nil {
				st.changed = make(chan struct{})
			}
			return opHold{method: c.key, until: until, resetAt: st.until(), changed: st.changed}, false
		}
	}
	for _, c := range counts {
		b.state(c.key).inflight += c.n
	}
	return opHold{}, true
}

// hold decides for n commands of one method at now: go (wait false), wait until a time,
// or wait for the next change (until zero). Called with mu held.
//
// The method is held when its last reported time, plus the cost of its calls in flight
// and of all but the last of the n commands, comes within the margin of limit: the
// server checks each call before it runs and lets the one that crosses the limit
// complete, so only calls that arrive after the crossing are refused. The wait lasts
// until operating_reset_at, when the oldest minute of the window expires; the figure is
// then stale, and one call at a time goes until an answer brings the new one.
func (st *opState) hold(n int, now time.Time, limit, margin time.Duration, blocked bool) (until time.Time, wait bool) {
	var near bool
	switch {
	case !st.blockedAt.IsZero() && (blocked || limit > 0):
		near = true
		gap := blockedRetryGap
		if st.until().IsZero() {
			gap = unknownResetGap
		}
		if until := st.blockedAt.Add(gap); now.Before(until) && !now.Before(st.until()) {
			return until, true // no reset ahead, yet the portal refused
		}
	case limit > 0 && !st.until().IsZero():
		ahead := limit / 2
		if k := time.Duration(st.inflight + n - 1); k <= 0 || st.cost <= ahead/k {
			ahead = max(k, 0) * st.cost
		}
		// Written so that nothing overflows: used may be as long as a Duration gets.
		near = st.used >= limit-margin-ahead
	}
	switch {
	case !near:
		return time.Time{}, false
	case now.Before(st.until()):
		return st.until(), true
	case st.inflight > 0:
		return time.Time{}, true // an answer in flight brings the new figure
	}
	return time.Time{}, false // the probe
}

// release ends the flight of the commands counted by tryHold.
func (b *opBudget) release(counts []opCount) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range counts {
		st := b.state(c.key)
		st.inflight = max(st.inflight-c.n, 0)
		st.notify()
	}
}
