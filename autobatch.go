package bitrix24

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/b24go/bitrix24/internal/envelope"
)

// MaxAutoBatchWait is the longest hold [WithAutoBatch] accepts: a call waiting longer
// than this for company would be better sent alone.
const MaxAutoBatchWait = time.Minute

// AutoBatchStats counts the work of [WithAutoBatch] since the client was created.
type AutoBatchStats struct {
	Calls   uint64 // calls sent as commands of automatic batches
	Batches uint64 // batch requests sent for them
}

// AutoBatchStats reports how many calls [WithAutoBatch] coalesced into how many batch
// requests. Both are zero when the option is off.
func (c *Client) AutoBatchStats() AutoBatchStats {
	if c == nil || c.batcher == nil {
		return AutoBatchStats{}
	}
	return AutoBatchStats{Calls: c.batcher.calls.Load(), Batches: c.batcher.batches.Load()}
}

// autoBatcher gathers calls that are safe to batch into batch requests of up to
// MaxBatchCommands commands. One batch is open at a time: the first call starts its
// timer, and the batch goes out when the timer fires or the batch is full.
type autoBatcher struct {
	c       *Client
	maxWait time.Duration
	// send sends a batch body through the client's normal path; tests replace it.
	send func(ctx context.Context, body []byte, st *callState) (answer, error)

	mu   sync.Mutex
	open *autoBatch // the batch gathering calls; nil when none

	calls, batches atomic.Uint64
}

func newAutoBatcher(c *Client, maxWait time.Duration) *autoBatcher {
	return &autoBatcher{
		c:       c,
		maxWait: maxWait,
		// Every command of an automatic batch is safe to repeat, so the batch is too.
		send: func(ctx context.Context, body []byte, st *callState) (answer, error) {
			return c.send(ctx, "batch", body, true, st)
		},
	}
}

// autoBatch is one batch being gathered or in flight. Its fields are guarded by the
// batcher's mu until it is sealed; afterwards calls is read-only.
type autoBatch struct {
	calls   []*heldCall
	started time.Time
	timer   *time.Timer
	sealed  bool               // no more calls join; sent, or about to be
	cancel  context.CancelFunc // of the batch's own context, once sealed
	waiting int                // callers still waiting, once sealed
	st      callState          // the batch request's, once done
}

// heldCall is one caller's command and, once done is closed, its outcome.
type heldCall struct {
	ctx     context.Context
	method  string
	command string // "method?query"
	batch   *autoBatch
	done    chan struct{}
	ans     answer
	err     error
	// commandFailed: err is the command's own entry in result_error, not a failure of
	// the batch request.
	commandFailed bool
	// alone: the batch's answer was too large to read; the caller sends its call alone.
	alone bool
	// panicked holds what the batcher's goroutine panicked with; the caller re-panics.
	panicked any
}

// try sends the call through an automatic batch when it qualifies, and reports whether
// it did; when ok is false nothing was sent and the caller sends the call itself.
func (b *autoBatcher) try(ctx context.Context, method string, body []byte, idempotent bool, st *callState) (ans answer, ok bool, err error) {
	if !idempotent || !batchableMethod(method) || ctx.Value(callbackKey{}) != nil {
		// A call made from OnTokenRefresh must use the new pair at once: in a batch,
		// sent on the batcher's own context, it would wait for the refresh that waits
		// for it.
		return answer{}, false, nil
	}
	command, ok := batchCommand(method, body)
	if !ok {
		return answer{}, false, nil
	}
	if err := ctx.Err(); err != nil {
		return answer{}, true, fmt.Errorf("bitrix24: %s: %w", method, err)
	}
	// A method near its operating-time budget waits here, out of the batch, which
	// goes without it.
	claim, err := b.c.holdOperating(ctx, []string{method}, time.Time{})
	if err != nil {
		return answer{}, true, err
	}
	h := &heldCall{ctx: ctx, method: method, command: command, done: make(chan struct{})}
	b.join(h)
	select {
	case <-h.done:
	case <-ctx.Done():
		select {
		case <-h.done: // the answer came as the caller gave up: it is still the answer
		default:
			b.leave(h)
			claim.release()
			return answer{}, true, fmt.Errorf("bitrix24: %s: %w while held for an automatic batch", method, ctx.Err())
		}
	}
	claim.release()
	if h.panicked != nil {
		panic(h.panicked) // in the caller's goroutine, where it can be recovered
	}
	if h.alone {
		// The batch's answer exceeded what its calls may answer together: each call is
		// sent alone and gets the answer, or the size error, it would have had.
		ans, err := b.c.send(ctx, method, body, true, st)
		return ans, true, err
	}
	if h.commandFailed && errors.Is(h.err, ErrOperationTimeLimit) && b.c.opts.operatingWait > 0 {
		// Refused before it ran: wait for the reset, then send it alone (send waits
		// again if need be).
		wait, herr := b.c.holdOperating(ctx, []string{method}, b.c.now().Add(b.c.opts.operatingWait))
		wait.release()
		if herr != nil {
			return answer{}, true, h.err
		}
		ans, err := b.c.send(ctx, method, body, true, st)
		return ans, true, err
	}
	if h.commandFailed && retryable(ctx, h.err, true) && b.c.opts.maxRetries > 0 {
		// The command itself failed in a way a direct call would retry (e.g. an
		// internal error): send it alone, under the usual policy.
		ans, err := b.c.send(ctx, method, body, true, st)
		return ans, true, err
	}
	// The call travelled in the batch: its request, its attempts, its status.
	*st = h.batch.st
	st.carriedBy = len(h.batch.calls)
	return h.ans, true, h.err
}

// join adds h to the open batch, opening one if needed, and sends the batch when full.
func (b *autoBatcher) join(h *heldCall) {
	b.mu.Lock()
	ab := b.open
	if ab == nil {
		ab = &autoBatch{started: time.Now()}
		b.open = ab
		ab.timer = time.AfterFunc(b.maxWait, func() { b.flush(ab, "maxWait") })
	}
	h.batch = ab
	ab.calls = append(ab.calls, h)
	if len(ab.calls) < MaxBatchCommands {
		b.mu.Unlock()
		return
	}
	ab.timer.Stop()
	ctx := b.seal(ab)
	b.mu.Unlock()
	go b.run(ctx, ab, "full")
}

// flush sends ab when its first call has waited maxWait, unless it went out already
// (full) or every caller left.
func (b *autoBatcher) flush(ab *autoBatch, reason string) {
	b.mu.Lock()
	if b.open != ab || ab.sealed || len(ab.calls) == 0 {
		b.mu.Unlock()
		return
	}
	ctx := b.seal(ab)
	b.mu.Unlock()
	b.run(ctx, ab, reason)
}

// seal closes ab to new calls and gives it a context of its own: no caller's
// cancellation ends it, only all of them leaving or the latest of their deadlines (none
// when a caller has none, as for that caller's direct call). Called with mu held.
func (b *autoBatcher) seal(ab *autoBatch) context.Context {
	ab.sealed = true
	if b.open == ab {
		b.open = nil
	}
	ab.waiting = len(ab.calls)
	var latest time.Time
	for _, h := range ab.calls {
		d, ok := h.ctx.Deadline()
		if !ok {
			latest = time.Time{}
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	var ctx context.Context
	if latest.IsZero() {
		ctx, ab.cancel = context.WithCancel(context.Background())
	} else {
		ctx, ab.cancel = context.WithDeadline(context.Background(), latest)
	}
	return ctx
}

// leave removes a caller whose ctx ended: its command is dropped while the batch is
// still gathering; once sent, the batch is cancelled when its last caller has left.
func (b *autoBatcher) leave(h *heldCall) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ab := h.batch
	if !ab.sealed {
		for i, x := range ab.calls {
			if x == h {
				ab.calls = append(ab.calls[:i], ab.calls[i+1:]...)
				break
			}
		}
		if len(ab.calls) == 0 {
			ab.timer.Stop()
			if b.open == ab {
				b.open = nil
			}
		}
		return
	}
	ab.waiting--
	if ab.waiting == 0 {
		ab.cancel()
	}
}

// run sends a sealed batch and hands each caller its outcome. The batch is a call of its
// own, with its own request id. A panic (in a Limiter, a RoundTripper, a log handler) is
// handed to every caller, who re-panics with it in its own goroutine: on the batcher's
// goroutine nobody could recover it.
func (b *autoBatcher) run(ctx context.Context, ab *autoBatch, reason string) {
	defer ab.cancel()
	delivered := false
	defer func() {
		if delivered {
			return
		}
		r := recover()
		if r == nil {
			r = errors.New("bitrix24: the automatic batch ended without an answer")
		}
		for _, h := range ab.calls {
			h.panicked = r
			close(h.done)
		}
	}()
	b.calls.Add(uint64(len(ab.calls)))
	b.batches.Add(1)
	ab.st.id = newRequestID()
	held := time.Since(ab.started)
	if b.c.log.Enabled(ctx, slog.LevelDebug) {
		b.c.log.LogAttrs(ctx, slog.LevelDebug, "bitrix24 auto-batch",
			slog.Int("size", len(ab.calls)),
			slog.Duration("wait", held),
			slog.String("trigger", reason),
			slog.String("request_id", ab.st.id))
	}
	// Each call may answer up to the response limit, as alone: the batch's answer is
	// bounded by the limit times its commands, never by the limit of one call.
	ctx = withBodyLimit(ctx, batchBodyLimit(b.c.opts.maxResponseSize, len(ab.calls)))
	var err error
	if o := b.c.opts.observer; o != nil {
		carried := make([]context.Context, len(ab.calls))
		for i, h := range ab.calls {
			carried[i] = h.ctx
		}
		info := CallStartInfo{Method: "batch", BatchSize: len(ab.calls), AutoBatch: true, Carried: carried}
		_, err = observeCall(b.c, ctx, info, &ab.st, func(ctx context.Context) (struct{}, error) {
			notify(o.BatchFormed, ctx, BatchInfo{Size: len(ab.calls), Auto: true, Held: held, Trigger: reason})
			return struct{}{}, b.sendAndDeliver(ctx, ab)
		})
	} else {
		err = b.sendAndDeliver(ctx, ab)
	}
	tooLarge := answerTooLarge(err)
	delivered = true
	for _, h := range ab.calls {
		switch {
		case tooLarge && len(ab.calls) > 1:
			h.alone = true
		case err != nil:
			h.err = fmt.Errorf("bitrix24: %s: sent in an automatic batch: %w", h.method, err)
		}
		close(h.done)
	}
}

// batchBodyLimit is what n calls may answer together: limit each, plus room for the
// batch's own envelope; it saturates instead of overflowing.
func batchBodyLimit(limit int64, n int) int64 {
	const envelopeRoom = 64 << 10
	if limit > (math.MaxInt64-envelopeRoom)/int64(n) {
		return math.MaxInt64 - 1
	}
	return limit*int64(n) + envelopeRoom
}

// sendAndDeliver sends the batch and gives each call its outcome.
func (b *autoBatcher) sendAndDeliver(ctx context.Context, ab *autoBatch) error {
	ans, err := b.send(ctx, autoBatchBody(ab.calls), &ab.st)
	if err != nil {
		return err
	}
	return b.deliver(ans, ab.calls, ab.st.id)
}

// deliver gives each call the answer a direct call would have had: its result with its
// own total, next and time, or its entry of result_error as an *APIError of its method.
func (b *autoBatcher) deliver(ans answer, calls []*heldCall, id string) error {
	sections := envelope.Sections(ans.env.Result)
	if sections == nil {
		return &UnexpectedResponseError{Method: "batch", StatusCode: ans.status, Reason: "result is not a batch answer"}
	}
	results := envelope.Sections(sections["result"])
	errs := envelope.Sections(sections["result_error"])
	totals := envelope.Sections(sections["result_total"])
	nexts := envelope.Sections(sections["result_next"])
	times := envelope.Sections(sections["result_time"])
	for i, h := range calls {
		key := autoBatchKey(i)
		if raw, ok := errs[key]; ok {
			e, ok := envelope.DecodeError(raw)
			if !ok {
				e = envelope.Error{Description: "malformed error entry"}
			}
			apiErr := apiError(b.c.secrets, h.method, ans.status, e.Code, e.Description, e.Argument)
			apiErr.RequestID = id
			h.err = b.c.annotate(h.method, apiErr)
			h.commandFailed = true
			continue
		}
		result, ok := results[key]
		if !ok {
			h.err = &UnexpectedResponseError{Method: h.method, StatusCode: ans.status, Reason: "the automatic batch's answer holds nothing for this call"}
			continue
		}
		if limit := b.c.opts.maxResponseSize; int64(len(result)) > limit {
			// Alone, this answer would not have been read either.
			h.err = tooLargeAnswer(b.c.secrets, h.method, ans.status, limit)
			continue
		}
		env := &envelope.Envelope{Result: result, Time: envelope.DecodeTime(times[key])}
		if raw, ok := totals[key]; ok {
			env.Total, env.HasTotal = envelope.Int(raw)
		}
		if raw, ok := nexts[key]; ok {
			env.Next, env.HasNext = envelope.Int(raw)
		}
		b.c.noteTime(h.method, env.Time)
		b.c.observeOperating(h.ctx, h.method, env.Time)
		h.ans = answer{env: env, status: ans.status}
	}
	return nil
}

// autoBatchKey names the i-th command. Keys are never purely numeric (the server would
// send the sections as lists) and sort in the order of the calls.
func autoBatchKey(i int) string {
	return "c" + strconv.Itoa(100 + i)[1:]
}

// autoBatchBody is {"halt":0,"cmd":{...}}: without halt, a failing command stops no
// other caller's command.
func autoBatchBody(calls []*heldCall) []byte {
	cmd := make(map[string]string, len(calls))
	for i, h := range calls {
		cmd[autoBatchKey(i)] = h.command
	}
	body, _ := json.Marshal(struct {
		Halt int               `json:"halt"`
		Cmd  map[string]string `json:"cmd"`
	}{0, cmd})
	return body
}
