package bitrix24otel

import (
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/b24go/bitrix24"
)

// methodAttrs are the measurement options of one REST method's metrics, built once
// (its attributes alone, and with each outcome), and the last operating time the portal
// reported for it.
type methodAttrs struct {
	method, ok, err metric.MeasurementOption
	operating       atomic.Uint64 // math.Float64bits of the seconds
	hasOperating    atomic.Bool
}

func (m *methodAttrs) setOperating(seconds float64) {
	m.operating.Store(math.Float64bits(seconds))
	m.hasOperating.Store(true)
}

func (m *methodAttrs) lastOperating() (float64, bool) {
	if !m.hasOperating.Load() {
		return 0, false
	}
	return math.Float64frombits(m.operating.Load()), true
}

func newMethodAttrs(method string) *methodAttrs {
	m := keyMethod.String(method)
	return &methodAttrs{
		method: metric.WithAttributeSet(attribute.NewSet(m)),
		ok:     metric.WithAttributeSet(attribute.NewSet(m, keyOutcome.String("ok"))),
		err:    metric.WithAttributeSet(attribute.NewSet(m, keyOutcome.String("error"))),
	}
}

// maxCachedMethods bounds the cache: a program calls a few dozen methods, but nothing
// stops one from making up names. The operating gauge reports the cached methods only.
const maxCachedMethods = 1024

// attrCache keeps the attribute sets of each method, so that a call allocates none.
type attrCache struct {
	m sync.Map // string -> *methodAttrs
	n atomic.Int64
}

// each calls f for every cached method.
func (c *attrCache) each(f func(*methodAttrs)) {
	c.m.Range(func(_, v any) bool {
		f(v.(*methodAttrs))
		return true
	})
}

func (c *attrCache) get(method string) *methodAttrs {
	if v, ok := c.m.Load(method); ok {
		return v.(*methodAttrs)
	}
	a := newMethodAttrs(method)
	if c.n.Load() >= maxCachedMethods {
		return a
	}
	if v, loaded := c.m.LoadOrStore(method, a); loaded {
		return v.(*methodAttrs)
	}
	c.n.Add(1)
	return a
}

// maxErrorType bounds error.type: a Bitrix24 code is short, and a server could send
// anything.
const maxErrorType = 64

// errorType is error.type: the Bitrix24 code of an *APIError (as sent, already free of
// secrets), otherwise the class of the Go error.
func errorType(err error) string {
	var apiErr *bitrix24.APIError
	var valErr *bitrix24.ValidationError
	var unexpected *bitrix24.UnexpectedResponseError
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		if apiErr.Code == "" {
			return "bitrix24.APIError"
		}
		if len(apiErr.Code) > maxErrorType {
			return apiErr.Code[:maxErrorType]
		}
		return apiErr.Code
	case errors.As(err, &valErr):
		return "bitrix24.ValidationError"
	case errors.As(err, &unexpected):
		return "bitrix24.UnexpectedResponseError"
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	case errors.Is(err, bitrix24.ErrTokenNotFound):
		return "bitrix24.ErrTokenNotFound"
	case errors.As(err, &netErr):
		if netErr.Timeout() {
			return "timeout"
		}
		return "network"
	}
	return "_OTHER"
}
