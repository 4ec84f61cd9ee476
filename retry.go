package bitrix24

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"time"
)

// retryable says whether another attempt is safe and useful. A request refused before it
// ran (QUERY_LIMIT_EXCEEDED, a connection that was never made) is always retried; a
// failure whose outcome is unknown (5xx, timeout, reset, an unreadable answer) only when
// the call is safe to repeat. Answers that would come again (ERROR_ARGUMENT, auth
// errors, OPERATION_TIME_LIMIT) are never retried.
func retryable(ctx context.Context, err error, idempotent bool) bool {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return false // the caller gave up; any other failure is reported with ctx's error
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.Is(ErrQueryLimitExceeded):
			return true
		case apiErr.Is(ErrInternal):
			return idempotent
		}
		return false
	}
	if answerTooLarge(err) {
		return false // the same answer would come again
	}
	if errors.Is(err, ErrUnexpectedResponse) {
		return idempotent // an HTML 502, a truncated 200: the call may or may not have run
	}
	if neverSent(err) {
		return true
	}
	return idempotent
}

// neverSent reports failures that happened before the request left the machine: name
// resolution and connection set-up.
func neverSent(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// idempotentMethods may be repeated after a failure whose outcome is unknown, beyond the
// reads that idempotentSuffixes recognise. Keep the README's retry table in step.
var idempotentMethods = map[string]bool{
	"user.option.set":      true,
	"app.option.set":       true,
	"userfieldtype.update": true,
	"server.time":          true,
	"scope":                true,
	"methods":              true,
	"profile":              true,
}

// idempotentSuffixes are the last name segments of reads.
var idempotentSuffixes = map[string]bool{
	"get": true, "list": true, "getlist": true, "fields": true, "current": true, "info": true,
}

// notIdempotentReads are named like reads but change what they return: event.offline.get
// deletes it (clear=1, the default) or reserves it (clear=0), so repeated, the first
// answer's events would be lost. Only a read again of a reserved page is safe, which the
// offline reader declares.
var notIdempotentReads = map[string]bool{"event.offline.get": true}

// isIdempotent: reads (get, list and the like, but not notIdempotentReads) and the
// methods above. Anything else, and above all *.add and batch, could run twice.
func isIdempotent(method string) bool {
	m := strings.ToLower(method)
	if idempotentMethods[m] {
		return true
	}
	return !notIdempotentReads[m] && idempotentSuffixes[m[strings.LastIndexByte(m, '.')+1:]]
}

// backoffDelay returns the wait before retry number attempt (1 = first retry): an
// exponential minDelay·2^(attempt−1) capped at maxDelay, with "equal jitter": half of
// the nominal delay is fixed and half random, so goroutines that failed together do not
// retry together, yet none retries almost at once. rnd returns a float64 in [0,1); nil
// means math/rand/v2. The result is in [nominal/2, nominal).
func backoffDelay(attempt int, minDelay, maxDelay time.Duration, rnd func() float64) time.Duration {
	if minDelay <= 0 {
		return 0
	}
	maxDelay = max(maxDelay, minDelay)
	nominal := minDelay
	for i := 1; i < attempt && nominal < maxDelay; i++ {
		if nominal > maxDelay/2 {
			nominal = maxDelay
			break
		}
		nominal *= 2
	}
	nominal = min(nominal, maxDelay)
	if rnd == nil {
		rnd = rand.Float64
	}
	r := rnd()
	if !(r >= 0 && r < 1) { // NaN or out of range: a bad source must not break the bounds
		r = 0
	}
	half := nominal / 2
	jitter := time.Duration(float64(half) * r)
	jitter = max(0, min(jitter, half-1)) // float rounding must not reach the nominal delay
	return nominal - half + jitter
}

// sleepCtx waits d or until ctx is done, and then returns ctx's error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
