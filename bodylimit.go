package bitrix24

import (
	"context"
	"errors"
	"fmt"

	"github.com/b24go/bitrix24/internal/redact"
)

// The response limit of one request ([WithMaxResponseSize]) and the answers that exceed
// it. An automatic batch raises the limit of its request to the sum of its calls' limits.

// bodyLimitKey carries a request's own response limit in its context.
type bodyLimitKey struct{}

// withBodyLimit returns ctx whose request may answer up to n bytes.
func withBodyLimit(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, bodyLimitKey{}, n)
}

// bodyLimit is the response limit of ctx's request, def unless withBodyLimit set one.
func bodyLimit(ctx context.Context, def int64) int64 {
	if n, ok := ctx.Value(bodyLimitKey{}).(int64); ok {
		return n
	}
	return def
}

// tooLargeAnswer is the error of an answer longer than limit.
func tooLargeAnswer(secrets *redact.Secrets, method string, status int, limit int64) error {
	err := unexpectedAnswer(secrets, method, status, fmt.Sprintf("body exceeds %d bytes", limit), nil).(*UnexpectedResponseError)
	err.tooLarge = true
	return err
}

// answerTooLarge reports an answer that exceeded its response limit: sending the same
// request again would only bring it again.
func answerTooLarge(err error) bool {
	var ue *UnexpectedResponseError
	return errors.As(err, &ue) && ue.tooLarge
}
