package bitrix24

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"reflect"
	"time"

	"github.com/b24go/bitrix24/internal/leakybucket"
)

// Defaults of the options.
const (
	DefaultTimeout         = 30 * time.Second // per HTTP attempt
	DefaultMaxRetries      = 3
	DefaultRetryMinWait    = 500 * time.Millisecond
	DefaultRetryMaxWait    = 10 * time.Second
	DefaultRatePerSecond   = 2.0 // Bitrix24's standard plans; Enterprise allows 5
	DefaultBurst           = 50  // Bitrix24's standard plans; Enterprise allows 250
	DefaultMaxResponseSize = 32 << 20
)

// Limiter paces requests. Wait blocks until one request may be sent, or returns an error
// (ctx's) when ctx ends first. A *rate.Limiter from golang.org/x/time/rate satisfies it,
// and so does a limiter shared between processes.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Option configures a [Client]. Options are applied in order; an invalid option makes the
// constructor fail.
type Option func(*options)

type options struct {
	httpClient      *http.Client
	timeout         time.Duration
	maxRetries      int
	minWait         time.Duration
	maxWait         time.Duration
	limiter         Limiter
	logger          *slog.Logger
	allowHTTP       bool
	maxResponseSize int64
	autoBatchWait   time.Duration // 0: auto-batching off
	operatingLimit  time.Duration // 0: the operating-time budget off
	operatingWait   time.Duration // 0: OPERATION_TIME_LIMIT returned at once
	operatingMargin time.Duration // 0: limit/operatingMarginDiv; benchmarks vary it
	// clockNow and clockAfter replace time.Now and time.After for the operating-time
	// budget (nil: the real ones); only tests and benchmarks set them.
	clockNow   func() time.Time
	clockAfter func(time.Duration) <-chan time.Time
	observer   *Observer // nil: nothing is reported (see observer.go)
	err        error
}

func defaultOptions() options {
	return options{
		timeout:         DefaultTimeout,
		maxRetries:      DefaultMaxRetries,
		minWait:         DefaultRetryMinWait,
		maxWait:         DefaultRetryMaxWait,
		limiter:         leakybucket.New(DefaultRatePerSecond, DefaultBurst),
		logger:          slog.New(slog.DiscardHandler),
		maxResponseSize: DefaultMaxResponseSize,
		operatingLimit:  DefaultOperatingBudget,
	}
}

func (o *options) fail(field, rule string) {
	if o.err == nil {
		o.err = invalid(field, rule)
	}
}

// WithHTTPClient sends requests through a copy of hc: its transport, TLS roots and proxy
// are used; hc itself is never modified.
func WithHTTPClient(hc *http.Client) Option {
	return setNonNil("WithHTTPClient", hc, func(o *options) { o.httpClient = hc })
}

// WithTimeout bounds each HTTP attempt (default [DefaultTimeout]). The context passed to
// a call bounds the whole call, retries and waits included. 0 means no per-attempt bound;
// a token refresh keeps a deadline of its own all the same ([DefaultRefreshTimeout]).
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d < 0 {
			o.fail("WithTimeout", "must not be negative")
			return
		}
		o.timeout = d
	}
}

// WithRetry sets how often a call is retried and the bounds of the exponential backoff
// (with jitter) between attempts. maxRetries 0 turns retries off. See the README for what
// is retried: only answers refused before they ran, and failures of methods that are
// safe to repeat.
func WithRetry(maxRetries int, minWait, maxWait time.Duration) Option {
	return func(o *options) {
		if maxRetries < 0 || minWait < 0 || maxWait < 0 {
			o.fail("WithRetry", "values must not be negative")
			return
		}
		if maxWait < minWait {
			o.fail("WithRetry", "maxWait must not be less than minWait")
			return
		}
		o.maxRetries, o.minWait, o.maxWait = maxRetries, minWait, maxWait
	}
}

// WithRateLimit paces the client with a leaky bucket shared by all its goroutines:
// perSecond requests drain per second and up to burst may go at once. Calls wait for
// their turn instead of failing. The default matches Bitrix24's standard plans (2/s,
// burst 50); Enterprise portals allow WithRateLimit(5, 250). perSecond 0 turns pacing off.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(o *options) {
		if math.IsNaN(perSecond) || math.IsInf(perSecond, 0) || perSecond < 0 || burst < 0 {
			o.fail("WithRateLimit", "perSecond must be a finite number ≥ 0 and burst ≥ 0")
			return
		}
		if perSecond > 0 && burst < 1 {
			o.fail("WithRateLimit", "burst must be at least 1 when perSecond is set")
			return
		}
		if perSecond == 0 {
			o.limiter = nil
			return
		}
		o.limiter = leakybucket.New(perSecond, burst)
	}
}

// WithLimiter paces the client with l instead of the built-in leaky bucket, e.g. a
// limiter shared by several processes that call the same portal (bitrix24redis). A nil l
// is refused: use WithRateLimit(0, 0) to turn pacing off.
func WithLimiter(l Limiter) Option {
	return func(o *options) {
		if l == nil || isNilInterface(l) {
			o.fail("WithLimiter", "must not be nil (WithRateLimit(0, 0) turns pacing off)")
			return
		}
		o.limiter = l
	}
}

// WithLogger sends debug records of each attempt (method, status, duration, error) and
// the HTTP library's warnings to l. Secrets are redacted. The default discards.
func WithLogger(l *slog.Logger) Option {
	return setNonNil("WithLogger", l, func(o *options) { o.logger = l })
}

// setNonNil is an option that refuses a nil value and otherwise applies set.
func setNonNil[T any](name string, v *T, set func(*options)) Option {
	return func(o *options) {
		if v == nil {
			o.fail(name, "must not be nil")
			return
		}
		set(o)
	}
}

// WithAllowHTTP permits http:// portal and token URLs, for local development. Bitrix24
// itself refuses webhooks over plain HTTP.
func WithAllowHTTP() Option {
	return func(o *options) { o.allowHTTP = true }
}

// WithMaxResponseSize caps the size of a response body (default [DefaultMaxResponseSize],
// 32 MiB). A larger answer fails with [ErrUnexpectedResponse] instead of exhausting memory.
func WithMaxResponseSize(n int64) Option {
	return func(o *options) {
		if n <= 0 {
			o.fail("WithMaxResponseSize", "must be positive")
			return
		}
		o.maxResponseSize = n
	}
}

// WithAutoBatch coalesces concurrent calls that are safe to batch into batch requests of
// up to 50 commands: each such call is held at most maxWait to gather others, and a batch
// goes out as soon as it holds 50 commands or its first call has waited maxWait.
//
// A call qualifies when it is safe to repeat (idempotent per the README's retry table, or
// marked [WithIdempotent]), may run inside a batch, and has params that a query string
// carries unchanged: strings, in maps and lists. Everything else is sent as before. Each
// caller gets its own result or error; a failure of the batch request as a whole reaches
// every caller in it, after the usual retries. maxWait 0 turns the option off (the
// default); it must not exceed [MaxAutoBatchWait]. See [Client.AutoBatchStats].
func WithAutoBatch(maxWait time.Duration) Option {
	return func(o *options) {
		if maxWait < 0 || maxWait > MaxAutoBatchWait {
			o.fail("WithAutoBatch", "maxWait must be between 0 (off) and "+MaxAutoBatchWait.String())
			return
		}
		o.autoBatchWait = maxWait
	}
}

// isNilInterface catches a typed nil inside an interface (a nil *rate.Limiter), which
// would panic on the first call.
func isNilInterface(v any) bool {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
