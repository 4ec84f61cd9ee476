// Package bitrix24 is a client for the Bitrix24 REST API (the classic /rest/ endpoint).
//
// A [Client] talks to one portal, through an inbound webhook ([NewWebhookClient]) or as
// an installed OAuth application ([NewOAuthClient]). Every call takes a context, is
// rate-limited to the portal's leaky bucket, retried when that is safe, and fails with
// typed errors: [*APIError] for answers of the server (match them with [errors.Is] and the
// Err... sentinels), [*ValidationError] for bad input (nothing is sent),
// [*UnexpectedResponseError] for answers that are not Bitrix24 JSON.
//
// Secrets — the webhook code, access and refresh tokens, the client secret — never
// appear in an error string, a log line or the %v output of any value of this package.
//
// The user.option.* and userfieldtype.* methods need an installed application: through
// a webhook Bitrix24 answers them with ACCESS_DENIED and WRONG_AUTH_TYPE.
//
// A *Client is safe for concurrent use by many goroutines.
package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/b24go/bitrix24/internal/backoff"
	"github.com/b24go/bitrix24/internal/envelope"
	"github.com/b24go/bitrix24/internal/leakybucket"
	"github.com/b24go/bitrix24/internal/redact"
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
	err             error
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
	return func(o *options) {
		if hc == nil {
			o.fail("WithHTTPClient", "must not be nil")
			return
		}
		o.httpClient = hc
	}
}

// WithTimeout bounds each HTTP attempt (default [DefaultTimeout]). The context passed to
// a call bounds the whole call, retries and waits included. 0 means no per-attempt bound.
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
			maxWait = minWait
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
		if perSecond < 0 || burst < 0 {
			o.fail("WithRateLimit", "values must not be negative")
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
// limiter shared by several processes that call the same portal.
func WithLimiter(l Limiter) Option {
	return func(o *options) { o.limiter = l }
}

// WithLogger sends debug records of each attempt (method, status, duration, error) and
// the HTTP library's warnings to l. Secrets are redacted. The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l == nil {
			o.fail("WithLogger", "must not be nil")
			return
		}
		o.logger = l
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

// Client calls the REST API of one Bitrix24 portal. Create it with [NewWebhookClient] or
// [NewOAuthClient]. It is safe for concurrent use and immutable after construction,
// except for the OAuth token it refreshes.
type Client struct {
	// UserOption stores per-user settings of the application (user.option.*).
	UserOption *UserOptionService
	// UserFieldType manages custom user-field types (userfieldtype.*).
	UserFieldType *UserFieldTypeService

	common  service
	rc      *resty.Client
	creds   credentials
	opts    options
	secrets *redact.Secrets
	log     *slog.Logger
	resets  sync.Map // method name -> time.Time: last operating_reset_at seen
}

// service is what every service holds: the client it calls through.
type service struct{ c *Client }

// credentials is how a client authenticates: a webhook or an OAuth token source.
type credentials interface {
	// endpoint is the URL of a REST method.
	endpoint(method string) string
	// accessToken returns the token to send as "auth" ("" for webhooks), refreshing it
	// first when it is about to expire.
	accessToken(ctx context.Context) (string, error)
	// refreshExpired refreshes after the server answered expired_token for stale,
	// unless another caller already did.
	refreshExpired(ctx context.Context, stale string) error
}

func newClient(opts []Option, build func(c *Client) (credentials, error)) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.err != nil {
		return nil, o.err
	}
	c := &Client{opts: o, secrets: &redact.Secrets{}, log: o.logger}
	c.rc = newResty(o, c.secrets)
	creds, err := build(c)
	if err != nil {
		return nil, err
	}
	c.creds = creds
	c.common.c = c
	c.UserOption = (*UserOptionService)(&c.common)
	c.UserFieldType = (*UserFieldTypeService)(&c.common)
	return c, nil
}

// newResty builds the HTTP layer: a copy of the user's *http.Client (no cookie jar of
// ours), a redacting logger always installed (resty logs failed attempts with their URL
// even without debug), and a redirect policy that never follows another host.
func newResty(o options, secrets *redact.Secrets) *resty.Client {
	hc := &http.Client{}
	if o.httpClient != nil {
		copied := *o.httpClient
		hc = &copied
	}
	rc := resty.NewWithClient(hc)
	rc.SetLogger(restyLogger{log: o.logger, secrets: secrets})
	rc.SetTimeout(o.timeout)
	rc.SetRedirectPolicy(resty.RedirectPolicyFunc(sameHostRedirects))
	return rc
}

// sameHostRedirects follows at most 3 redirects, and only on the same host without
// leaving https: the webhook code sits in the path and must not travel elsewhere. Any
// other redirect is handed back as the answer (and becomes an UnexpectedResponseError).
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if len(via) >= 3 || req.URL.Host != first.Host || (first.Scheme == "https" && req.URL.Scheme != "https") {
		return http.ErrUseLastResponse
	}
	return nil
}

// String describes the client without revealing a secret.
func (c *Client) String() string {
	if c == nil || c.creds == nil {
		return "bitrix24.Client(unconfigured)"
	}
	return "bitrix24.Client{" + redact.String(c.creds.endpoint(""), c.secrets.List()...) + "}"
}

// GoString is String, so %#v is as safe as %v.
func (c *Client) GoString() string { return c.String() }

// Call invokes any REST method: params is encoded as the JSON body (it must encode to a
// JSON object, or be nil), and the answer's "result" is decoded into result, which may be
// nil. An empty map that PHP sent as [] decodes into a map or struct as empty.
func (c *Client) Call(ctx context.Context, method string, params any, result any) error {
	env, err := c.do(ctx, method, params)
	if err != nil {
		return err
	}
	return decodeResult(method, env.Result, result)
}

// do is the one call path: validate, encode once, then attempt, retry and replay.
func (c *Client) do(ctx context.Context, method string, params any) (*envelope.Envelope, error) {
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	if err := checkMethod(method); err != nil {
		return nil, err
	}
	body, err := encodeParams(params)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, method, body)
}

// ready refuses what would otherwise panic: a nil ctx, or a Client that no constructor
// built. Every entry point (do, Batch) checks it before anything is sent.
func (c *Client) ready(ctx context.Context) error {
	if ctx == nil {
		return invalid("ctx", "must not be nil")
	}
	if c == nil || c.creds == nil {
		return invalid("Client", "must be created with NewWebhookClient or NewOAuthClient")
	}
	return nil
}

// send runs the attempts of one call. The replay after a refresh does not count as a
// retry: it happens at most once, whatever the retry budget.
func (c *Client) send(ctx context.Context, method string, params []byte) (*envelope.Envelope, error) {
	replayed := false
	for retry := 0; ; {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("bitrix24: %s: %w", method, err)
		}
		if c.opts.limiter != nil {
			if err := c.opts.limiter.Wait(ctx); err != nil {
				return nil, fmt.Errorf("bitrix24: %s: waiting for the rate limiter: %w", method, err)
			}
		}
		token, err := c.creds.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		env, err := c.attempt(ctx, method, withAuth(params, token))
		if err == nil {
			c.noteTime(method, env.Time)
			return env, nil
		}
		if token != "" && !replayed && errors.Is(err, ErrExpiredToken) {
			replayed = true
			if rerr := c.creds.refreshExpired(ctx, token); rerr != nil {
				return nil, rerr
			}
			continue
		}
		retry++
		if retry > c.opts.maxRetries || !retryable(ctx, err, isIdempotent(method)) {
			return nil, c.annotate(method, err)
		}
		if serr := backoff.Sleep(ctx, backoff.Delay(retry, c.opts.minWait, c.opts.maxWait, nil)); serr != nil {
			return nil, fmt.Errorf("bitrix24: %s: %w while waiting to retry after: %w", method, serr, err)
		}
	}
}

// attempt sends one HTTP request and classifies its outcome.
func (c *Client) attempt(ctx context.Context, method string, body []byte) (*envelope.Envelope, error) {
	start := time.Now()
	req := c.rc.R()
	// Shared, never-modified values: SetHeader would allocate a slice per header and call.
	req.Header[headerContentType] = jsonHeaderValue
	req.Header[headerAccept] = jsonHeaderValue
	// A *bytes.Reader is sent as is; a []byte would be copied twice by resty.
	resp, err := req.
		SetContext(ctx).
		SetBody(bytes.NewReader(body)).
		SetDoNotParseResponse(true).
		Post(c.creds.endpoint(method))
	if err != nil {
		err = c.transportError(method, err)
		c.logAttempt(ctx, method, 0, start, err)
		return nil, err
	}
	env, err := c.readAnswer(method, resp)
	c.logAttempt(ctx, method, resp.StatusCode(), start, err)
	return env, err
}

// readAnswer reads at most maxResponseSize bytes and decodes the envelope, looking for an
// "error" key whatever the status: Bitrix24 sends some errors with 200.
func (c *Client) readAnswer(method string, resp *resty.Response) (*envelope.Envelope, error) {
	raw := resp.RawBody()
	defer raw.Close()
	status := resp.StatusCode()
	buf := getBuffer()
	defer putBuffer(buf)
	size := int64(-1)
	if resp.RawResponse != nil {
		size = resp.RawResponse.ContentLength
	}
	data, err := readBody(raw, c.opts.maxResponseSize+1, size, *buf)
	*buf = data
	if err != nil {
		return nil, fmt.Errorf("bitrix24: %s: reading the answer: %w", method, c.redactError(err))
	}
	if int64(len(data)) > c.opts.maxResponseSize {
		return nil, c.unexpected(method, status, fmt.Sprintf("body exceeds %d bytes", c.opts.maxResponseSize), nil)
	}
	if status >= 300 && status < 400 {
		return nil, c.unexpected(method, status, "redirect not followed (another host, or the portal moved)", nil)
	}
	env, apiErr, err := envelope.Decode(data)
	switch {
	case apiErr != nil:
		return nil, &APIError{
			Code:        apiErr.Code,
			Description: c.secrets.String(apiErr.Description),
			Argument:    apiErr.Argument,
			StatusCode:  status,
			Method:      method,
		}
	case err != nil:
		return nil, c.unexpected(method, status, err.Error(), data)
	case status >= 300:
		return nil, c.unexpected(method, status, "a result with an error status", data)
	}
	return env, nil
}

// Header names and the value of the JSON headers of every REST call. The value is
// shared by all requests and never modified (its capacity is its length, so an append
// would copy).
const (
	headerContentType = "Content-Type"
	headerAccept      = "Accept"
)

var jsonHeaderValue = []string{"application/json"}

// bufferPool recycles the buffers answers are read into. Nothing keeps a reference to
// a buffer after readAnswer: envelope.Decode copies what it returns, and errors copy
// their snippets.
var bufferPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuffer keeps a rare huge answer from pinning its buffer in the pool.
const maxPooledBuffer = 1 << 20

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	bufferPool.Put(b)
}

// readBody is io.ReadAll(io.LimitReader(r, limit)) into buf: it reads until EOF, an
// error or limit bytes. size is the announced Content-Length (-1 when unknown): up to
// maxPooledBuffer, the buffer is sized for it at once. Beyond, it grows with what
// arrives, so a false Content-Length cannot make it allocate more than is sent.
func readBody(r io.Reader, limit, size int64, buf []byte) ([]byte, error) {
	buf = buf[:0]
	if size >= 0 && size < limit && size < maxPooledBuffer && int64(cap(buf)) <= size {
		buf = make([]byte, 0, size+1) // +1: room for the read that reports EOF
	}
	for int64(len(buf)) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		room := buf[len(buf):cap(buf)]
		if left := limit - int64(len(buf)); int64(len(room)) > left {
			room = room[:left]
		}
		n, err := r.Read(room)
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func (c *Client) unexpected(method string, status int, reason string, body []byte) error {
	const max = 256
	if len(body) > max {
		body = body[:max]
	}
	return &UnexpectedResponseError{
		Method:     method,
		StatusCode: status,
		Reason:     c.secrets.String(reason),
		Snippet:    strings.ToValidUTF8(c.secrets.String(string(body)), "?"),
	}
}

// transportError strips secrets from the URL inside err and wraps it.
func (c *Client) transportError(method string, err error) error {
	return fmt.Errorf("bitrix24: %s: %w", method, c.redactError(err))
}

// redactError rebuilds a *url.Error with a redacted URL and, if the text still holds a
// secret, hides it behind a redacting wrapper; errors.Is/As keep working.
func (c *Client) redactError(err error) error {
	secrets := c.secrets.List()
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		redactedURL := "[REDACTED URL]"
		if perr == nil {
			redactedURL = redact.URL(u, secrets...).String()
		}
		err = &url.Error{Op: ue.Op, URL: redactedURL, Err: ue.Err}
	}
	if msg := err.Error(); redact.String(msg, secrets...) != msg {
		return &redactedError{msg: redact.String(msg, secrets...), err: err}
	}
	return err
}

// redactedError shows a scrubbed message but unwraps to the original chain, so that
// errors.Is(err, context.DeadlineExceeded) and the like still hold.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

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
	if v, ok := c.resets.Load(strings.ToLower(method)); ok {
		return v.(time.Time)
	}
	return time.Time{}
}

func (c *Client) logAttempt(ctx context.Context, method string, status int, start time.Time, err error) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.Int("status", status),
		slog.Duration("elapsed", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", c.secrets.String(err.Error())))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "bitrix24 call", attrs...)
}

// retryable says whether another attempt is safe and useful. A request refused before it
// ran (QUERY_LIMIT_EXCEEDED, a connection that was never made) is always retried; a
// server failure or timeout only when the method is safe to repeat.
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
	var unexpected *UnexpectedResponseError
	if errors.As(err, &unexpected) {
		return idempotent && unexpected.StatusCode >= 500
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

// idempotentMethods may be repeated after a failure whose outcome is unknown.
var idempotentMethods = map[string]bool{
	"user.option.set":      true,
	"app.option.set":       true,
	"userfieldtype.update": true,
	"server.time":          true,
	"scope":                true,
	"methods":              true,
	"profile":              true,
}

// isIdempotent: reads (get, list and the like) and the methods above. Anything else, and
// above all *.add and batch, could run twice.
func isIdempotent(method string) bool {
	m := strings.ToLower(method)
	if idempotentMethods[m] {
		return true
	}
	i := strings.LastIndexByte(m, '.')
	switch m[i+1:] {
	case "get", "list", "getlist", "fields", "current", "info":
		return true
	}
	return false
}

// checkMethod keeps method names to what Bitrix24 accepts, so that no input can change
// the request's path.
func checkMethod(method string) error {
	if method == "" {
		return invalid("method", "must not be empty")
	}
	if len(method) > 128 {
		return invalid("method", "must be at most 128 characters")
	}
	for i := 0; i < len(method); i++ {
		ch := method[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_') {
			return invalid("method", fmt.Sprintf("%q may contain only letters, digits, '.' and '_'", method))
		}
	}
	return nil
}

// encodeParams marshals params once per call; it must be a JSON object (or nothing).
func encodeParams(params any) ([]byte, error) {
	var data []byte
	switch p := params.(type) {
	case nil:
		return []byte("{}"), nil
	case json.RawMessage:
		var buf bytes.Buffer
		if err := json.Compact(&buf, p); err != nil {
			return nil, invalid("params", "is not valid JSON: "+err.Error())
		}
		data = buf.Bytes()
	default:
		var err error
		if data, err = json.Marshal(params); err != nil {
			return nil, invalid("params", "cannot be encoded as JSON: "+err.Error())
		}
	}
	if bytes.Equal(data, []byte("null")) {
		return []byte("{}"), nil
	}
	if len(data) < 2 || data[0] != '{' {
		return nil, invalid("params", "must encode to a JSON object")
	}
	return data, nil
}

// withAuth appends "auth" as the object's last key: if params held its own "auth", PHP's
// json_decode keeps the last one, so ours wins.
func withAuth(params []byte, token string) []byte {
	if token == "" {
		return params
	}
	body := make([]byte, 0, len(params)+len(token)+12)
	body = append(body, params[:len(params)-1]...)
	if len(params) > 2 {
		body = append(body, ',')
	}
	body = append(body, `"auth":`...)
	body = appendJSONString(body, token)
	return append(body, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if ch := s[i]; ch < 0x20 || ch == '"' || ch == '\\' || ch >= 0x80 {
			quoted, _ := json.Marshal(s)
			return append(dst, quoted...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// decodeResult decodes raw into dst. PHP encodes an empty map as [], so [] into a map or
// struct means empty rather than a type error.
func decodeResult(method string, raw json.RawMessage, dst any) error {
	if dst == nil {
		return nil
	}
	if envelope.IsEmptyList(raw) {
		v := reflect.ValueOf(dst)
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			switch e := v.Elem(); e.Kind() {
			case reflect.Map:
				e.Set(reflect.MakeMap(e.Type()))
				return nil
			case reflect.Struct:
				return nil
			}
		}
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("bitrix24: %s: decoding result: %w", method, err)
	}
	return nil
}

// restyLogger routes resty's own messages to slog, scrubbed: resty logs failed attempts
// with the full request URL, which holds the webhook code.
type restyLogger struct {
	log     *slog.Logger
	secrets *redact.Secrets
}

func (l restyLogger) Errorf(format string, v ...any) { l.emit(slog.LevelError, format, v) }
func (l restyLogger) Warnf(format string, v ...any)  { l.emit(slog.LevelWarn, format, v) }
func (l restyLogger) Debugf(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }

func (l restyLogger) emit(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, l.secrets.String(fmt.Sprintf(format, v...)), slog.String("source", "resty"))
}
