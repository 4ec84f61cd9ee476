package bitrix24

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/b24go/bitrix24/internal/envelope"
	"github.com/b24go/bitrix24/internal/phpquery"
)

// MaxBatchCommands is how many commands Bitrix24 runs in one batch request; Batch sends
// longer lists in chunks of this size.
const MaxBatchCommands = 50

// BatchCommand is one call inside a batch.
type BatchCommand struct {
	Key    string // unique within the call; results and errors are keyed by it
	Method string // e.g. "user.option.set"
	// Params is encoded into the command's query string in PHP bracket syntax. It must
	// encode to a JSON object (a map or struct), or be nil. A query string carries only
	// strings: numbers are sent as their JSON text and booleans as "1" and "0", which is
	// how the server reads them for most methods. Batch refuses (ErrValidation) what the
	// query would lose or change: nil values and empty maps or lists in any command,
	// anything but strings in user.option.set and app.option.set commands (which store
	// values as received; see [UserOptionService.SetCommand]), and more than 1000 pairs
	// in one command (PHP's max_input_vars, past which the server drops the rest). A
	// value may be a reference
	// to an earlier command's result, "$result[key][field]", which the server
	// substitutes; references resolve only within the same chunk of 50 commands, and
	// Batch refuses one to a command of an earlier chunk or to a later command.
	Params any
}

// BatchResult holds the outcome of every command that ran.
type BatchResult struct {
	Results map[string]json.RawMessage // the "result" of each command that succeeded
	Errors  map[string]*APIError       // each command that failed, Method filled in
	Totals  map[string]int             // "total" of list commands
	Nexts   map[string]int             // "next" of list commands that have more pages
	Times   map[string]CallTime        // timing of each command that succeeded
	// Skipped lists, in order, the keys of commands that never ran because halt stopped
	// the batch at an earlier failure.
	Skipped []string
}

// CallTime is the server's timing of a call.
type CallTime struct {
	Start, Finish time.Time
	Duration      time.Duration
	Processing    time.Duration
	// Operating is the method's operating time used in the rolling 10-minute window;
	// OperatingResetAt is when that window frees up (zero when not reported).
	Operating        time.Duration
	OperatingResetAt time.Time
}

// Batch sends the commands in one request per 50 (the server's maximum), in order. With
// halt, the server stops at the first failing command and no later chunk is sent; the
// keys that never ran are in [BatchResult.Skipped]. A failed command is not an error of
// Batch: it is in [BatchResult.Errors]. Batch returns an error only when a request
// failed as a whole; the result then holds the chunks that completed before it.
//
// Each command counts toward its own method's operating-time budget
// ([WithOperatingBudget]): a chunk holding a command of a method near its limit waits
// for that method's reset; requests of other methods are not held.
//
// Batch is never retried once it may have run (a batch is not atomic): only a refusal
// before it ran (QUERY_LIMIT_EXCEEDED, a connection never made) is retried.
func (c *Client) Batch(ctx context.Context, halt bool, cmds ...BatchCommand) (*BatchResult, error) {
	return c.batchCall(ctx, halt, false, cmds)
}

// batchCall is a Batch call; reads says that every command is a read, so that a request
// may be sent again after an ambiguous failure (the packed pages of List and Scan).
func (c *Client) batchCall(ctx context.Context, halt, reads bool, cmds []BatchCommand) (*BatchResult, error) {
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	id, err := requestIDOf(ctx)
	if err != nil {
		return nil, err
	}
	st := &callState{id: id}
	if c.opts.observer != nil {
		return observeCall(c, ctx, CallStartInfo{Method: "batch", BatchSize: len(cmds)}, st, func(ctx context.Context) (*BatchResult, error) {
			return c.batch(ctx, halt, reads, cmds, st)
		})
	}
	return c.batch(ctx, halt, reads, cmds, st)
}

// batch sends the chunks of a Batch call; every request carries the call's id.
func (c *Client) batch(ctx context.Context, halt, reads bool, cmds []BatchCommand, st *callState) (*BatchResult, error) {
	encoded, err := encodeBatch(cmds)
	if err != nil {
		return nil, err
	}
	res := &BatchResult{
		Results: map[string]json.RawMessage{},
		Errors:  map[string]*APIError{},
		Totals:  map[string]int{},
		Nexts:   map[string]int{},
		Times:   map[string]CallTime{},
	}
	for start := 0; start < len(cmds); start += MaxBatchCommands {
		end := min(start+MaxBatchCommands, len(cmds))
		failed, err := c.sendChunk(ctx, res, halt, reads, cmds[start:end], encoded[start:end], st)
		if err != nil {
			return res, err
		}
		if halt && failed {
			for _, cmd := range cmds[end:] {
				res.Skipped = append(res.Skipped, cmd.Key)
			}
			break
		}
	}
	return res, nil
}

// sendChunk sends one request of up to 50 commands, once the operating-time budget of
// every method in it lets them go, and merges its answer into res.
func (c *Client) sendChunk(ctx context.Context, res *BatchResult, halt, reads bool, cmds []BatchCommand, encoded []string, st *callState) (failed bool, err error) {
	methods := make([]string, len(cmds))
	for i, cmd := range cmds {
		methods[i] = cmd.Method
	}
	claim, err := c.holdOperating(ctx, methods, time.Time{})
	if err != nil {
		stampRequestID(err, st.id) // refused before it was sent
		return false, err
	}
	defer claim.release()
	if o := c.opts.observer; o != nil {
		notify(o.BatchFormed, ctx, BatchInfo{Size: len(cmds)})
	}
	// Only a batch of reads (the packed pages of List and Scan) may be sent again.
	ans, err := c.send(ctx, "batch", batchBody(halt, cmds, encoded), reads, st)
	if err != nil {
		return false, err
	}
	return c.collect(ctx, res, ans.env.Result, cmds, st.id)
}

// encodeBatch validates the commands and renders each as "method?query".
func encodeBatch(cmds []BatchCommand) ([]string, error) {
	if len(cmds) == 0 {
		return nil, invalid("cmds", "at least one command is required")
	}
	seen := make(map[string]bool, len(cmds))
	out := make([]string, len(cmds))
	for i, cmd := range cmds {
		field := fmt.Sprintf("cmds[%d]", i)
		switch {
		case cmd.Key == "":
			return nil, invalid(field+".Key", "must not be empty")
		case seen[cmd.Key]:
			return nil, invalid(field+".Key", fmt.Sprintf("%q is used twice; keys must be unique", cmd.Key))
		case cmd.Method == "":
			return nil, invalid(field+".Method", "must not be empty")
		}
		seen[cmd.Key] = true
		if err := checkMethod(cmd.Method); err != nil {
			return nil, invalid(field+".Method", err.(*ValidationError).Rule)
		}
		query, err := phpquery.Encode(cmd.Params)
		if err != nil {
			return nil, invalid(field+".Params", err.Error())
		}
		if err := checkBatchParams(field+".Params", cmd.Method, cmd.Params, query); err != nil {
			return nil, err
		}
		out[i] = cmd.Method
		if query != "" {
			out[i] += "?" + query
		}
	}
	if err := checkBatchRefs(cmds, out); err != nil {
		return nil, err
	}
	return out, nil
}

// batchBody writes the JSON by hand: the server runs the commands in the order of the
// cmd object's keys, and encoding/json would sort them.
func batchBody(halt bool, cmds []BatchCommand, encoded []string) []byte {
	body := []byte(`{"halt":`)
	if halt {
		body = append(body, '1')
	} else {
		body = append(body, '0')
	}
	body = append(body, `,"cmd":{`...)
	for i, cmd := range cmds {
		if i > 0 {
			body = append(body, ',')
		}
		key, _ := json.Marshal(cmd.Key)
		val, _ := json.Marshal(encoded[i])
		body = append(body, key...)
		body = append(body, ':')
		body = append(body, val...)
	}
	return append(body, "}}"...)
}

// collect merges one chunk's answer into res and reports whether a command failed.
// Any section may arrive as [] (empty) or as a list when the keys are 0..n-1.
func (c *Client) collect(ctx context.Context, res *BatchResult, raw json.RawMessage, cmds []BatchCommand, id string) (failed bool, err error) {
	sections := envelope.Sections(raw)
	if sections == nil {
		return false, &UnexpectedResponseError{Method: "batch", StatusCode: 200, Reason: "result is not a batch answer"}
	}
	methods := make(map[string]string, len(cmds))
	for _, cmd := range cmds {
		methods[cmd.Key] = cmd.Method
	}
	for key, v := range envelope.Sections(sections["result"]) {
		res.Results[key] = v
	}
	times := envelope.Sections(sections["result_time"])
	for key, v := range times {
		res.Times[key] = callTime(envelope.DecodeTime(v))
	}
	// The figures first: a command refused with OPERATION_TIME_LIMIT then says when its
	// method unblocks (the reset the commands before it reported), and stays blocked.
	for _, cmd := range cmds { // in the order they ran: a method's last figure wins
		if v, ok := times[cmd.Key]; ok {
			t := envelope.DecodeTime(v)
			c.noteTime(cmd.Method, t)
			c.observeOperating(ctx, cmd.Method, t)
		}
	}
	for key, v := range envelope.Sections(sections["result_error"]) {
		e, ok := envelope.DecodeError(v)
		if !ok {
			e = envelope.Error{Description: "malformed error entry"}
		}
		res.Errors[key] = apiError(c.secrets, methods[key], 200, e.Code, e.Description, e.Argument)
		_ = c.annotate(methods[key], res.Errors[key])
		res.Errors[key].RequestID = id
		failed = true
	}
	for key, v := range envelope.Sections(sections["result_total"]) {
		if n, ok := envelope.Int(v); ok {
			res.Totals[key] = n
		}
	}
	for key, v := range envelope.Sections(sections["result_next"]) {
		if n, ok := envelope.Int(v); ok {
			res.Nexts[key] = n
		}
	}
	for _, cmd := range cmds {
		_, ok := res.Results[cmd.Key]
		if _, failed := res.Errors[cmd.Key]; !ok && !failed {
			res.Skipped = append(res.Skipped, cmd.Key)
		}
	}
	return failed, nil
}

func callTime(t envelope.Time) CallTime {
	ct := CallTime{
		Start:      unixFloat(t.Start),
		Finish:     unixFloat(t.Finish),
		Duration:   seconds(t.Duration),
		Processing: seconds(t.Processing),
		Operating:  seconds(t.Operating),
	}
	if t.OperatingResetAt > 0 {
		ct.OperatingResetAt = time.Unix(t.OperatingResetAt, 0)
	}
	return ct
}

func unixFloat(f float64) time.Time {
	if f == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(f*1e9))
}

// seconds is a duration the server reported in seconds: never negative, and saturated
// at the longest time.Duration instead of wrapping (a converted float out of range is
// undefined, in practice the most negative Duration).
func seconds(f float64) time.Duration {
	switch ns := f * float64(time.Second); {
	case !(ns > 0):
		return 0 // negative, zero or NaN
	case ns >= math.MaxInt64:
		return math.MaxInt64
	default:
		return time.Duration(ns)
	}
}
