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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/b24go/bitrix24/internal/envelope"
	"github.com/b24go/bitrix24/internal/redact"
)

// Client calls the REST API of one Bitrix24 portal. Create it with [NewWebhookClient] or
// [NewOAuthClient]. It is safe for concurrent use. Its configuration is fixed at
// construction; what changes is the OAuth pair it refreshes, the secrets it redacts
// (every new token joins them) and the operating-time resets it has seen.
type Client struct {
	// UserOption stores per-user settings of the application (user.option.*).
	UserOption *UserOptionService
	// UserFieldType manages custom user-field types (userfieldtype.*).
	UserFieldType *UserFieldTypeService
	// Event binds handlers and reads the events the portal keeps for the application
	// (event.bind, event.get, event.offline.*).
	Event *EventService

	common  service
	tr      *transport
	creds   credentials
	opts    options
	secrets *redact.Secrets
	log     *slog.Logger
	budget  opBudget // what the portal reported of each method's operating time
	host    string   // the portal's host name, for the observer

	batcher *autoBatcher // nil unless WithAutoBatch; see autobatch.go
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
	c.tr = newTransport(o, c.secrets)
	creds, err := build(c)
	if err != nil {
		return nil, err
	}
	c.creds = creds
	if u, err := url.Parse(creds.endpoint("")); err == nil {
		c.host = u.Hostname()
	}
	if o.autoBatchWait > 0 {
		c.batcher = newAutoBatcher(c, o.autoBatchWait)
	}
	c.common.c = c
	c.UserOption = (*UserOptionService)(&c.common)
	c.UserFieldType = (*UserFieldTypeService)(&c.common)
	c.Event = (*EventService)(&c.common)
	return c, nil
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
// JSON object, or be nil), and the answer's "result" is decoded into result, which must
// be nil or a non-nil pointer. An empty map that PHP sent as [] decodes into a map or
// struct as empty. Per-call options ([WithIdempotent], [WithResponse]) come last.
func (c *Client) Call(ctx context.Context, method string, params any, result any, opts ...CallOption) error {
	co := newCallOptions(opts)
	if err := checkResult("result", result); err != nil {
		return err
	}
	ans, err := c.do(ctx, method, params, co)
	if err != nil {
		return err
	}
	co.fill(ans)
	return decodeResult(method, ans.env.Result, result)
}

// answer is a successful REST answer: the envelope and the HTTP status it came with.
type answer struct {
	env    *envelope.Envelope
	status int
}

// do is the path of every single call (services, Call, List, Scan): validate, encode
// once, then send. Batch builds its own body and enters at send.
func (c *Client) do(ctx context.Context, method string, params any, co callOptions) (answer, error) {
	if err := c.ready(ctx); err != nil {
		return answer{}, err
	}
	if co.err != nil {
		return answer{}, co.err
	}
	if err := checkMethod(method); err != nil {
		return answer{}, err
	}
	id, err := requestIDOf(ctx)
	if err != nil {
		return answer{}, err
	}
	st := &callState{id: id}
	if c.opts.observer != nil {
		return observeCall(c, ctx, CallStartInfo{Method: method}, st, func(ctx context.Context) (answer, error) {
			return c.encodeAndSend(ctx, method, params, co, st)
		})
	}
	return c.encodeAndSend(ctx, method, params, co, st)
}

// encodeAndSend encodes params once and sends the call, in an automatic batch when it
// qualifies. An *APIError made before anything was sent (the operating-time budget's
// refusal) names the call's id too.
func (c *Client) encodeAndSend(ctx context.Context, method string, params any, co callOptions, st *callState) (ans answer, err error) {
	defer func() { stampRequestID(err, st.id) }()
	body, err := encodeParams(params)
	if err != nil {
		return answer{}, err
	}
	idempotent := !co.reserves && (co.idempotent || isIdempotent(method))
	if co.authConnector != "" {
		// Outside a batch: the connector is the request's, and a batch has one for all.
		return c.send(ctx, method, withKey(body, "auth_connector", co.authConnector), idempotent, st)
	}
	if c.batcher != nil {
		if ans, ok, err := c.batcher.try(ctx, method, body, idempotent, st); ok {
			return ans, err
		}
	}
	return c.send(ctx, method, body, idempotent, st)
}

// ready refuses what would otherwise panic: a nil ctx, or a Client that no constructor
// built. Every entry point (do, Batch) checks it before anything is sent.
func (c *Client) ready(ctx context.Context) error {
	if ctx == nil {
		return invalid("ctx", "must not be nil")
	}
	if c == nil || c.creds == nil {
		return errNotBuilt()
	}
	return nil
}

// send runs the attempts of one call: hold for the operating-time budget, pace,
// authenticate, attempt, then replay once after a refresh or retry under the policy. The
// replay after a refresh does not count as a retry: it happens at most once, whatever the
// retry budget; nor does a resend after OPERATION_TIME_LIMIT (WithOperatingWait). A
// batch is held by its commands' methods before it comes here (batch.go, autobatch.go).
// Every request of the call carries st.id as X-Request-ID.
func (c *Client) send(ctx context.Context, method string, body []byte, idempotent bool, st *callState) (answer, error) {
	var claim opClaim
	if method != "batch" {
		var err error
		if claim, err = c.holdOperating(ctx, []string{method}, time.Time{}); err != nil {
			return answer{}, err
		}
	}
	defer func() { claim.release() }()
	first := c.now()
	replayed := false
	for retry := 0; ; {
		if err := ctx.Err(); err != nil {
			return answer{}, fmt.Errorf("bitrix24: %s: %w", method, err)
		}
		if c.opts.limiter != nil {
			if err := c.waitLimiter(ctx, method); err != nil {
				return answer{}, fmt.Errorf("bitrix24: %s: waiting for the rate limiter: %w", method, err)
			}
		}
		token, err := c.creds.accessToken(ctx)
		if err != nil {
			return answer{}, err
		}
		ans, err := c.attempt(ctx, method, withAuth(body, token), idempotent, st)
		if err == nil {
			if !strings.EqualFold(method, "batch") {
				// The portal does not count the outer batch: only its commands' figures
				// (result_time, see collect and deliver) belong to a method.
				c.noteTime(method, ans.env.Time)
				c.observeOperating(ctx, method, ans.env.Time)
			}
			return ans, nil
		}
		if token != "" && !replayed && errors.Is(err, ErrExpiredToken) {
			replayed = true
			if rerr := c.creds.refreshExpired(ctx, token); rerr != nil {
				return answer{}, rerr
			}
			continue
		}
		if err = c.annotate(method, err); method != "batch" && c.opts.operatingWait > 0 && errors.Is(err, ErrOperationTimeLimit) {
			// Refused before it ran: wait for the reset, within the option's bound.
			claim.release()
			var herr error
			if claim, herr = c.holdOperating(ctx, []string{method}, first.Add(c.opts.operatingWait)); herr == nil {
				continue
			}
			return answer{}, err
		}
		retry++
		if retry > c.opts.maxRetries || !retryable(ctx, err, idempotent) {
			return answer{}, err
		}
		delay := backoffDelay(retry, c.opts.minWait, c.opts.maxWait, nil)
		if o := c.opts.observer; o != nil {
			notify(o.Retry, ctx, RetryInfo{Method: method, Attempt: st.attempts, Delay: delay, Err: err})
		}
		if serr := sleepCtx(ctx, delay); serr != nil {
			return answer{}, fmt.Errorf("bitrix24: %s: %w while waiting to retry after: %w", method, serr, err)
		}
	}
}

// waitLimiter waits for the rate limiter, and tells the observer how long it took.
func (c *Client) waitLimiter(ctx context.Context, method string) error {
	o := c.opts.observer
	if o == nil || o.LimiterWait == nil {
		return cleanError(c.secrets, c.opts.limiter.Wait(ctx))
	}
	start := time.Now()
	err := cleanError(c.secrets, c.opts.limiter.Wait(ctx))
	notify(o.LimiterWait, ctx, WaitInfo{Method: method, Duration: time.Since(start), Err: err})
	return err
}

// attempt sends one HTTP request and classifies its outcome.
func (c *Client) attempt(ctx context.Context, method string, body []byte, idempotent bool, st *callState) (answer, error) {
	start := time.Now()
	st.attempts++
	httpAns, err := c.tr.post(ctx, c.creds.endpoint(method), jsonHeaderValue, body, idempotent, st.id)
	if err != nil {
		err = fmt.Errorf("bitrix24: %s: %w", method, err)
		st.status = 0
		c.endAttempt(ctx, method, st, start, err)
		return answer{}, err
	}
	defer httpAns.release()
	st.status = httpAns.status
	env, err := decodeAnswer(c.secrets, method, httpAns, bodyLimit(ctx, c.opts.maxResponseSize))
	if err != nil {
		stampRequestID(err, st.id)
	}
	c.endAttempt(ctx, method, st, start, err)
	return answer{env: env, status: httpAns.status}, err
}

// endAttempt logs an attempt and reports it to the observer.
func (c *Client) endAttempt(ctx context.Context, method string, st *callState, start time.Time, err error) {
	c.logAttempt(ctx, method, st.id, st.status, start, err)
	if o := c.opts.observer; o != nil {
		notify(o.AttemptDone, ctx, AttemptInfo{
			Method: method, RequestID: st.id, Attempt: st.attempts, StatusCode: st.status,
			Duration: time.Since(start), Err: err,
		})
	}
}

func (c *Client) logAttempt(ctx context.Context, method, id string, status int, start time.Time, err error) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("request_id", id),
		slog.Int("status", status),
		slog.Duration("elapsed", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", c.secrets.String(err.Error())))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "bitrix24 call", attrs...)
}
