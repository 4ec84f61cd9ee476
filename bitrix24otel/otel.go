package bitrix24otel

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/b24go/bitrix24"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/b24go/bitrix24/bitrix24otel"

// Option configures [Instrument].
type Option func(*config)

type config struct {
	tp trace.TracerProvider
	mp metric.MeterProvider
}

// WithTracerProvider makes spans with tp instead of otel.GetTracerProvider(). A nil tp
// keeps the default.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	}
}

// WithMeterProvider records metrics with mp instead of otel.GetMeterProvider(). A nil mp
// keeps the default.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	}
}

// Instrument returns a client option that reports every call as a span and as metrics
// (see the package documentation). The providers are looked up when Instrument is
// called; instruments are created once and shared by every client given the option.
func Instrument(opts ...Option) bitrix24.Option {
	var cfg config
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	if cfg.tp == nil {
		cfg.tp = otel.GetTracerProvider()
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	return bitrix24.WithObserver(newObserver(cfg).hooks())
}

// Attribute keys. Counts and sizes are integers; durations are seconds.
const (
	keyMethod       = attribute.Key("bitrix24.method")
	keyRequestID    = attribute.Key("bitrix24.request_id")
	keyAttempts     = attribute.Key("bitrix24.attempts")
	keyAttempt      = attribute.Key("bitrix24.attempt")
	keyBatchSize    = attribute.Key("bitrix24.batch.size")
	keyBatchAuto    = attribute.Key("bitrix24.batch.auto")
	keyAutoBatch    = attribute.Key("bitrix24.autobatch.size")
	keyBatchHeld    = attribute.Key("bitrix24.batch.held")
	keyBatchTrigger = attribute.Key("bitrix24.batch.trigger")
	keyWait         = attribute.Key("bitrix24.wait")
	keyRetryDelay   = attribute.Key("bitrix24.retry.delay")
	keyTokenReason  = attribute.Key("bitrix24.token.reason")
	keyOutcome      = attribute.Key("outcome")
	keyServer       = attribute.Key("server.address")
	keyStatus       = attribute.Key("http.response.status_code")
	keyErrorType    = attribute.Key("error.type")
)

// observer turns the client's hooks into spans and metrics.
type observer struct {
	tracer trace.Tracer
	attrs  attrCache

	calls, retries, refreshes metric.Int64Counter
	duration, limiterWait     metric.Float64Histogram
	operatingWait, tokenWait  metric.Float64Histogram
	batchSize                 metric.Int64Histogram
	operating                 metric.Float64ObservableGauge
}

// Bucket boundaries, in seconds: a call takes tens of milliseconds to seconds; a wait
// is nothing, or up to the minutes of an operating-time reset.
var (
	durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60}
	waitBuckets     = []float64{0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600}
	batchBuckets    = []float64{1, 2, 5, 10, 20, 30, 40, 49, 50}
)

func newObserver(cfg config) *observer {
	m := cfg.mp.Meter(ScopeName)
	o := &observer{tracer: cfg.tp.Tracer(ScopeName)}
	// A failed instrument is a no-op one: the errors go to OpenTelemetry's handler.
	var err error
	handle := func(e error) {
		if e != nil {
			otel.Handle(e)
		}
	}
	o.calls, err = m.Int64Counter("bitrix24.client.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Calls made, by REST method and outcome (ok or error)."))
	handle(err)
	o.duration, err = m.Float64Histogram("bitrix24.client.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of calls, waits and retries included."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	handle(err)
	o.retries, err = m.Int64Counter("bitrix24.client.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Attempts retried after a failure, by REST method and error."))
	handle(err)
	o.limiterWait, err = m.Float64Histogram("bitrix24.client.limiter.wait", metric.WithUnit("s"),
		metric.WithDescription("Time calls waited for the client's rate limiter."),
		metric.WithExplicitBucketBoundaries(waitBuckets...))
	handle(err)
	o.refreshes, err = m.Int64Counter("bitrix24.client.token.refreshes", metric.WithUnit("{refresh}"),
		metric.WithDescription("OAuth token refreshes made at the token endpoint."))
	handle(err)
	// The gauge is observed at collection: a call only stores the figure.
	o.operating, err = m.Float64ObservableGauge("bitrix24.client.operating", metric.WithUnit("s"),
		metric.WithDescription("Operating time the portal reports used by a method in its rolling 10 minutes (time.operating)."))
	handle(err)
	_, err = m.RegisterCallback(o.observeOperating, o.operating)
	handle(err)
	o.operatingWait, err = m.Float64Histogram("bitrix24.client.operating.wait", metric.WithUnit("s"),
		metric.WithDescription("Time calls waited for a method's operating-time budget."),
		metric.WithExplicitBucketBoundaries(waitBuckets...))
	handle(err)
	o.tokenWait, err = m.Float64Histogram("bitrix24.client.token.wait", metric.WithUnit("s"),
		metric.WithDescription("Time calls waited for the OAuth pair (refresh, load, save)."),
		metric.WithExplicitBucketBoundaries(waitBuckets...))
	handle(err)
	o.batchSize, err = m.Int64Histogram("bitrix24.client.batch.size", metric.WithUnit("{command}"),
		metric.WithDescription("Commands per batch request, manual and automatic."),
		metric.WithExplicitBucketBoundaries(batchBuckets...))
	handle(err)
	return o
}

func (o *observer) hooks() *bitrix24.Observer {
	return &bitrix24.Observer{
		CallStart:     o.callStart,
		CallDone:      o.callDone,
		LimiterWait:   o.limiterWaited,
		OperatingWait: o.operatingWaited,
		TokenWait:     o.tokenWaited,
		TokenRefresh:  o.tokenRefreshed,
		Retry:         o.retry,
		BatchFormed:   o.batchFormed,
		Operating:     o.operatingReported,
	}
}

// clientKind is the kind of every span, made once.
var clientKind = trace.WithSpanKind(trace.SpanKindClient)

func (o *observer) callStart(ctx context.Context, info bitrix24.CallStartInfo) context.Context {
	n := 3
	if info.BatchSize > 0 {
		n++
	}
	attrs := make([]attribute.KeyValue, 0, n)
	attrs = append(attrs, keyMethod.String(info.Method), keyServer.String(info.Host), keyRequestID.String(info.RequestID))
	if info.BatchSize > 0 {
		attrs = append(attrs, keyBatchSize.Int(info.BatchSize))
	}
	opts := []trace.SpanStartOption{clientKind, trace.WithAttributes(attrs...)}
	if len(info.Carried) > 0 {
		links := make([]trace.Link, 0, len(info.Carried))
		for _, c := range info.Carried {
			if sc := trace.SpanContextFromContext(c); sc.IsValid() {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
		opts = append(opts, trace.WithLinks(links...))
	}
	ctx, _ = o.tracer.Start(ctx, info.Method, opts...)
	return ctx
}

func (o *observer) callDone(ctx context.Context, info bitrix24.CallDoneInfo) {
	ma := o.attrs.get(info.Method)
	opt := ma.ok
	if info.Err != nil {
		opt = ma.err
	}
	o.calls.Add(ctx, 1, opt)
	o.duration.Record(ctx, info.Duration.Seconds(), opt)

	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		span.End()
		return
	}
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, keyAttempts.Int(info.Attempts))
	if info.BatchSize > 0 && info.Method != "batch" {
		// Carried by an automatic batch: the request the server saw is the batch's.
		attrs = append(attrs, keyRequestID.String(info.RequestID))
	}
	if info.StatusCode > 0 {
		attrs = append(attrs, keyStatus.Int(info.StatusCode))
	}
	if info.BatchSize > 0 && info.Method != "batch" {
		attrs = append(attrs, keyAutoBatch.Int(info.BatchSize))
	}
	if info.Err != nil {
		attrs = append(attrs, keyErrorType.String(errorType(info.Err)))
		span.SetStatus(codes.Error, info.Err.Error())
	}
	span.SetAttributes(attrs...)
	span.End()
}

func (o *observer) limiterWaited(ctx context.Context, info bitrix24.WaitInfo) {
	o.limiterWait.Record(ctx, info.Duration.Seconds(), o.attrs.get(info.Method).method)
	waitEvent(ctx, "bitrix24.limiter.wait", info)
}

func (o *observer) operatingWaited(ctx context.Context, info bitrix24.WaitInfo) {
	o.operatingWait.Record(ctx, info.Duration.Seconds(), o.attrs.get(info.Method).method)
	waitEvent(ctx, "bitrix24.operating.wait", info)
}

func (o *observer) tokenWaited(ctx context.Context, info bitrix24.WaitInfo) {
	o.tokenWait.Record(ctx, info.Duration.Seconds(), metric.WithAttributes(keyTokenReason.String(info.Reason)))
	waitEvent(ctx, tokenEvent(info.Reason), info)
}

// tokenEvent names a wait for the OAuth pair: bitrix24.token.refresh (proactive or after
// expired_token), bitrix24.token.load or bitrix24.token.save (the TokenStore).
func tokenEvent(reason string) string {
	switch reason {
	case "load":
		return "bitrix24.token.load"
	case "save":
		return "bitrix24.token.save"
	}
	return "bitrix24.token.refresh"
}

// waitEvent marks a wait on the call's span.
func waitEvent(ctx context.Context, name string, info bitrix24.WaitInfo) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, keyWait.Float64(info.Duration.Seconds()))
	if info.Reason != "" {
		attrs = append(attrs, keyTokenReason.String(info.Reason))
	}
	if info.Err != nil {
		attrs = append(attrs, keyErrorType.String(errorType(info.Err)))
	}
	span.AddEvent(name, trace.WithAttributes(attrs...))
}

// tokenRefreshed counts a refresh at the token endpoint and records it as a span of its
// own (oauth/token): it is shared by every call that waited for it, and runs on none of
// their contexts.
func (o *observer) tokenRefreshed(ctx context.Context, info bitrix24.RefreshInfo) {
	outcome := "ok"
	if info.Err != nil {
		outcome = "error"
	}
	o.refreshes.Add(ctx, 1, metric.WithAttributes(keyTokenReason.String(info.Reason), keyOutcome.String(outcome)))
	end := time.Now()
	_, span := o.tracer.Start(ctx, "oauth/token", clientKind, trace.WithTimestamp(end.Add(-info.Duration)),
		trace.WithAttributes(keyTokenReason.String(info.Reason)))
	if info.Err != nil {
		span.SetAttributes(keyErrorType.String(errorType(info.Err)))
		span.SetStatus(codes.Error, info.Err.Error())
	}
	span.End(trace.WithTimestamp(end))
}

func (o *observer) retry(ctx context.Context, info bitrix24.RetryInfo) {
	et := errorType(info.Err)
	o.retries.Add(ctx, 1, metric.WithAttributes(keyMethod.String(info.Method), keyErrorType.String(et)))
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("bitrix24.retry", trace.WithAttributes(
			keyAttempt.Int(info.Attempt),
			keyRetryDelay.Float64(info.Delay.Seconds()),
			keyErrorType.String(et)))
	}
}

func (o *observer) batchFormed(ctx context.Context, info bitrix24.BatchInfo) {
	o.batchSize.Record(ctx, int64(info.Size), metric.WithAttributes(keyBatchAuto.Bool(info.Auto)))
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		attrs := []attribute.KeyValue{keyBatchSize.Int(info.Size), keyBatchAuto.Bool(info.Auto)}
		if info.Auto {
			attrs = append(attrs, keyBatchHeld.Float64(info.Held.Seconds()), keyBatchTrigger.String(info.Trigger))
		}
		span.AddEvent("bitrix24.batch", trace.WithAttributes(attrs...))
	}
}

func (o *observer) operatingReported(_ context.Context, info bitrix24.OperatingInfo) {
	o.attrs.get(info.Method).setOperating(info.Used.Seconds())
}

// observeOperating reports the last figure of every method that has one.
func (o *observer) observeOperating(_ context.Context, obs metric.Observer) error {
	o.attrs.each(func(ma *methodAttrs) {
		if v, ok := ma.lastOperating(); ok {
			obs.ObserveFloat64(o.operating, v, ma.method)
		}
	})
	return nil
}
