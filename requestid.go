package bitrix24

import (
	"context"
	"errors"
	"math/rand/v2"
)

// requestIDKey holds, in a context, the id WithRequestID gave its calls.
type requestIDKey struct{}

// MaxRequestIDLength is the longest id [WithRequestID] accepts.
const MaxRequestIDLength = 128

// WithRequestID returns a ctx whose calls carry id as X-Request-ID (otherwise each call
// gets a fresh random one, the same for all its attempts). The id of a call is in its
// debug log records (request_id), in its [*APIError] (RequestID) and on its span
// (bitrix24otel).
//
// id must be at most [MaxRequestIDLength] bytes of printable ASCII; a call whose ctx
// holds another id fails with [ErrValidation] before anything is sent. An empty id
// means a fresh one per call again. A call carried by an automatic batch
// ([WithAutoBatch]) travels under the batch's own id, which its error then names.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// requestIDOf returns the id of a call made with ctx: ctx's (checked) or a fresh one.
func requestIDOf(ctx context.Context) (string, error) {
	id, _ := ctx.Value(requestIDKey{}).(string)
	if id == "" {
		return newRequestID(), nil
	}
	if len(id) > MaxRequestIDLength {
		return "", invalid("WithRequestID", "the id must be at most 128 bytes")
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return "", invalid("WithRequestID", "the id must be printable ASCII (it is sent as a header)")
		}
	}
	return id, nil
}

// newRequestID is 128 random bits in hex, the shape of a W3C trace id. It needs to be
// unique, not unpredictable: math/rand/v2's generator is seeded from the OS.
func newRequestID() string {
	const hexDigits = "0123456789abcdef"
	var b [32]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[hi&0xf]
		b[16+i] = hexDigits[lo&0xf]
		hi >>= 4
		lo >>= 4
	}
	return string(b[:])
}

// callState is what one call collects while it runs, for its error, its log records
// and its observer.
type callState struct {
	id        string // X-Request-ID
	attempts  int    // HTTP requests sent
	status    int    // HTTP status of the last answer
	carriedBy int    // size of the automatic batch that carried the call (0: none)
}

// stampRequestID names the request in the *APIError of err, if it holds one without.
func stampRequestID(err error, id string) {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.RequestID == "" {
		apiErr.RequestID = id
	}
}
