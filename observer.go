package bitrix24

import (
	"context"
	"time"

	"github.com/b24go/bitrix24/internal/envelope"
)

// Observer is told what a [Client] does: each call starting and ending, each HTTP
// attempt, the waits (rate limiter, operating-time budget, token refresh), retries,
// token refreshes, batches formed (automatic ones included) and the operating time the
// portal reports. It is the hook behind tracing and metrics (package bitrix24otel
// implements it with OpenTelemetry), in the manner of net/http/httptrace.ClientTrace:
// every field is optional, and a nil field costs nothing.
//
// Hooks run synchronously on the goroutine doing the work, so they must be quick and
// safe for concurrent use. A panic in a hook is recovered and ignored. The errors they
// are given are the ones the caller gets: free of secrets along their whole chain.
//
// Every hook of one call receives the context CallStart returned for it, so a tracer
// can keep its span there. [Observer.TokenRefresh] is the exception: a refresh is shared
// by every call waiting for it and runs on a context of its own.
type Observer struct {
	// CallStart is called when a call begins: one per [Client.Call], service method,
	// page of [Client.List] or [Client.Scan], [Client.Batch], and automatic batch
	// ([WithAutoBatch]). The context it returns is used for the rest of the call.
	CallStart func(ctx context.Context, info CallStartInfo) context.Context
	// CallDone is called when the call ends, successfully or not.
	CallDone func(ctx context.Context, info CallDoneInfo)
	// AttemptDone is called after each HTTP request of a call, replays and retries
	// included.
	AttemptDone func(ctx context.Context, info AttemptInfo)
	// LimiterWait is called after each pass through the client's rate limiter, however
	// short the wait was.
	LimiterWait func(ctx context.Context, info WaitInfo)
	// OperatingWait is called after a call waited for a method's operating-time budget
	// to free up (Reason "operating_time").
	OperatingWait func(ctx context.Context, info WaitInfo)
	// TokenWait is called after a call waited for the OAuth pair: a refresh, or its
	// loading from or saving to the TokenStore (Reason "refresh", "expired_token",
	// "load" or "save"). Concurrent calls share one refresh: each reports its own wait.
	TokenWait func(ctx context.Context, info WaitInfo)
	// TokenRefresh is called once for each refresh made at the token endpoint, however
	// many calls waited for it. ctx is the refresh's own (no call's).
	TokenRefresh func(ctx context.Context, info RefreshInfo)
	// Retry is called when a failed attempt is about to be retried, before the backoff.
	Retry func(ctx context.Context, info RetryInfo)
	// BatchFormed is called for each batch request about to be sent: each chunk of
	// [Client.Batch], and each automatic batch (inside its own call).
	BatchFormed func(ctx context.Context, info BatchInfo)
	// Operating is called for every operating time the portal reports: each answer of a
	// single call and each command of a batch, per the command's own method.
	Operating func(ctx context.Context, info OperatingInfo)
}

// CallStartInfo describes a call that begins.
type CallStartInfo struct {
	Method    string // the REST method; "batch" for Batch and automatic batches
	RequestID string // the X-Request-ID of the call's requests (see [WithRequestID])
	Host      string // the portal's host name, without a port
	// BatchSize is the number of commands of a batch call (all chunks of [Client.Batch];
	// the calls an automatic batch carries), 0 for other calls.
	BatchSize int
	// AutoBatch marks the automatic batches of [WithAutoBatch]. They run on a context of
	// their own; Carried holds the contexts (as CallStart returned them) of the calls
	// they carry, so that a tracer can link them.
	AutoBatch bool
	Carried   []context.Context
}

// CallDoneInfo describes a call that ended.
type CallDoneInfo struct {
	Method string
	// RequestID is the X-Request-ID the server saw: for a call carried by an automatic
	// batch, the batch's.
	RequestID  string
	Attempts   int // HTTP requests sent for the call (its batch's, when carried by one)
	StatusCode int // HTTP status of the last answer; 0 when none arrived
	// BatchSize is the size of the automatic batch that carried the call (0: sent alone
	// or not sent); for batch calls, as in CallStartInfo.
	BatchSize int
	Duration  time.Duration
	Err       error // nil on success
}

// AttemptInfo describes one HTTP request of a call.
type AttemptInfo struct {
	Method     string
	RequestID  string
	Attempt    int // 1 for the first request of the call
	StatusCode int // 0 when no answer arrived
	Duration   time.Duration
	Err        error // nil when the answer was a success
}

// WaitInfo describes a wait of a call before a request.
type WaitInfo struct {
	Method   string // the REST method; empty for TokenWait (a token serves every method)
	Reason   string // see the hook
	Duration time.Duration
	Err      error // non-nil when the wait failed (ctx ended, the limiter or refresh failed)
}

// RefreshInfo describes a refresh made at the token endpoint.
type RefreshInfo struct {
	Reason   string // "proactive" (the pair was about to expire) or "expired_token"
	Duration time.Duration
	Err      error
}

// RetryInfo describes a retry about to happen.
type RetryInfo struct {
	Method  string
	Attempt int           // the attempt that failed (1 for the first)
	Delay   time.Duration // the backoff before the next attempt
	Err     error         // the failure being retried
}

// BatchInfo describes a batch request about to be sent.
type BatchInfo struct {
	Size int  // commands in this request
	Auto bool // formed by [WithAutoBatch]
	// Held is, for an automatic batch, how long its first call waited for company;
	// Trigger is why it went out: "full" or "maxWait".
	Held    time.Duration
	Trigger string
}

// OperatingInfo is the operating time the portal reported for a method.
type OperatingInfo struct {
	Method  string        // the method the time is for (a batch command's own method)
	Used    time.Duration // time.operating: used in the rolling 10-minute window
	ResetAt time.Time     // time.operating_reset_at; zero when not reported
}

// WithObserver reports what the client does to o (see [Observer]). Several observers
// may be given; each is called in the order of the options (CallDone in the reverse
// order), and each sees the context its own CallStart returned. A nil o is refused.
func WithObserver(o *Observer) Option {
	return setNonNil("WithObserver", o, func(opts *options) {
		cp := *o // later changes to *o do not reach the client
		opts.observer = chainObservers(opts.observer, &cp)
	})
}

// chainObservers returns an observer calling a, then b. Each sees the context its own
// CallStart returned (b's is derived from a's), so two tracers never end each other's
// spans.
func chainObservers(a, b *Observer) *Observer {
	if a == nil {
		return b
	}
	link := new(chainLink)
	return &Observer{
		CallStart: func(ctx context.Context, info CallStartInfo) context.Context {
			ca := safeStart(a.CallStart, ctx, info)
			return context.WithValue(safeStart(b.CallStart, ca, info), link, ca)
		},
		// b's call ends inside a's, as b's span is a child of a's.
		CallDone: func(ctx context.Context, info CallDoneInfo) {
			notify(b.CallDone, ctx, info)
			notify(a.CallDone, link.ctxOf(ctx), info)
		},
		AttemptDone:   chain(link, a.AttemptDone, b.AttemptDone),
		LimiterWait:   chain(link, a.LimiterWait, b.LimiterWait),
		OperatingWait: chain(link, a.OperatingWait, b.OperatingWait),
		TokenWait:     chain(link, a.TokenWait, b.TokenWait),
		TokenRefresh:  chain(link, a.TokenRefresh, b.TokenRefresh),
		Retry:         chain(link, a.Retry, b.Retry),
		BatchFormed:   chain(link, a.BatchFormed, b.BatchFormed),
		Operating:     chain(link, a.Operating, b.Operating),
	}
}

// chainLink keys, in a call's context, the context the first observer of a chain
// returned.
type chainLink struct{ _ byte }

// ctxOf is the context a's hooks see: the one a's CallStart returned.
func (l *chainLink) ctxOf(ctx context.Context) context.Context {
	if ca, ok := ctx.Value(l).(context.Context); ok {
		return ca
	}
	return ctx // a hook outside a call (TokenRefresh)
}

func chain[T any](link *chainLink, a, b func(context.Context, T)) func(context.Context, T) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return func(ctx context.Context, v T) { a(link.ctxOf(ctx), v) }
	}
	return func(ctx context.Context, v T) { notify(a, link.ctxOf(ctx), v); notify(b, ctx, v) }
}

// notify calls hook, if set, and swallows its panic: an observer must not break a call.
func notify[T any](hook func(context.Context, T), ctx context.Context, info T) {
	if hook == nil {
		return
	}
	defer func() { _ = recover() }()
	hook(ctx, info)
}

// callStart runs o.CallStart.
func (o *Observer) callStart(ctx context.Context, info CallStartInfo) context.Context {
	return safeStart(o.CallStart, ctx, info)
}

// safeStart runs start, if set; on a panic or a nil answer the call keeps ctx.
func safeStart(start func(context.Context, CallStartInfo) context.Context, ctx context.Context, info CallStartInfo) (out context.Context) {
	if start == nil {
		return ctx
	}
	out = ctx
	defer func() {
		if recover() != nil || out == nil {
			out = ctx
		}
	}()
	return start(ctx, info)
}

// observeCall runs one call under the observer: CallStart, run, CallDone. st collects
// what the call did (attempts, status, the request id the server saw).
func observeCall[T any](c *Client, ctx context.Context, info CallStartInfo, st *callState, run func(context.Context) (T, error)) (T, error) {
	o := c.opts.observer
	start := time.Now()
	info.RequestID, info.Host = st.id, c.host
	ctx = o.callStart(ctx, info)
	res, err := run(ctx)
	batch := info.BatchSize
	if st.carriedBy > 0 {
		batch = st.carriedBy
	}
	notify(o.CallDone, ctx, CallDoneInfo{
		Method: info.Method, RequestID: st.id, Attempts: st.attempts, StatusCode: st.status,
		BatchSize: batch, Duration: time.Since(start), Err: err,
	})
	return res, err
}

// observeOperating reports the operating time an answer (or a batch command) carried,
// when it carried a time object.
func (c *Client) observeOperating(ctx context.Context, method string, t envelope.Time) {
	o := c.opts.observer
	if o == nil || o.Operating == nil || t == (envelope.Time{}) {
		return
	}
	info := OperatingInfo{Method: method, Used: seconds(t.Operating)}
	if t.OperatingResetAt > 0 {
		info.ResetAt = time.Unix(t.OperatingResetAt, 0)
	}
	notify(o.Operating, ctx, info)
}

// observeOperatingWait reports a wait for method's operating-time budget
// (WithOperatingBudget, WithOperatingWait): call it after every such wait.
func (c *Client) observeOperatingWait(ctx context.Context, method string, d time.Duration, err error) {
	if o := c.opts.observer; o != nil {
		notify(o.OperatingWait, ctx, WaitInfo{Method: method, Reason: "operating_time", Duration: d, Err: err})
	}
}
