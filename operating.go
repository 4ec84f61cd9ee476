package bitrix24

import (
	"errors"
	"strings"
	"time"

	"github.com/b24go/bitrix24/internal/envelope"
)

// annotate adds what the client knows beyond the answer: when a method blocked by
// OPERATION_TIME_LIMIT unblocks.
func (c *Client) annotate(method string, err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Is(ErrOperationTimeLimit) && apiErr.ResetAt.IsZero() {
		apiErr.ResetAt = c.OperatingResetAt(method)
	}
	return err
}

// noteTime remembers operating_reset_at per method, for OPERATION_TIME_LIMIT errors.
func (c *Client) noteTime(method string, t envelope.Time) {
	if t.OperatingResetAt <= 0 {
		return
	}
	key := strings.ToLower(method)
	// The value changes once per window: skip the store (and its allocations) otherwise.
	if v, ok := c.resets.Load(key); ok && v.(time.Time).Unix() == t.OperatingResetAt {
		return
	}
	c.resets.Store(key, time.Unix(t.OperatingResetAt, 0))
}

// OperatingResetAt is the last time.operating_reset_at the portal reported for method:
// when its rolling 10-minute operating-time window next frees up. Zero when unknown.
func (c *Client) OperatingResetAt(method string) time.Time {
	if c == nil {
		return time.Time{}
	}
	if v, ok := c.resets.Load(strings.ToLower(method)); ok {
		return v.(time.Time)
	}
	return time.Time{}
}
