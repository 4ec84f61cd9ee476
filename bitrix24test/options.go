package bitrix24test

import (
	"strings"
	"time"
)

// Defaults of the fake portal.
const (
	// DefaultScope is the scope of the installed application's tokens.
	DefaultScope = "placement,user"
	// DefaultWebhookScope is the scope of the inbound webhook of user 1.
	DefaultWebhookScope = "placement,user"
	// DefaultRateLimit and DefaultBurst are the standard plan's leaky bucket.
	DefaultRateLimit = 2.0
	DefaultBurst     = 50
	// DefaultOperationTimeLimit is the cloud's per-method operating time in 10 minutes.
	DefaultOperationTimeLimit = 480 * time.Second
	// DefaultTokenLifetime is the access token lifetime.
	DefaultTokenLifetime = time.Hour
	// DefaultRefreshTokenLifetime is the refresh token lifetime: 180 days.
	DefaultRefreshTokenLifetime = 180 * 24 * time.Hour
)

// config collects the options.
type config struct {
	rate            float64
	burst           int
	opLimit         time.Duration
	tokenLifetime   time.Duration
	refreshLifetime time.Duration
	scope           string
	webhookScope    string
	plainHTTP       bool
	now             func() time.Time
	statuses        map[string]int // lower-cased code -> HTTP status
}

// Option configures a [Server].
type Option func(*config)

// WithRateLimit sets the portal's leaky bucket: the counter grows by one per REST
// request, drains at perSecond, and a request that would push it above burst is refused
// with 503 QUERY_LIMIT_EXCEEDED: from an empty bucket exactly burst requests pass and
// the next one is refused (with the default, the 51st). burst is the "limit before
// blocking" X of the docs' limits.md, and the official JS SDK's bucket likewise starts
// with burstLimit (50) requests. perSecond <= 0 disables the limit. The default is the
// standard plan, 2/s with burst 50 (Enterprise is 5/s, 250).
func WithRateLimit(perSecond float64, burst int) Option {
	return func(c *config) {
		c.rate = perSecond
		if burst < 1 {
			burst = 1
		}
		c.burst = burst
	}
}

// WithOperationTimeLimit sets the operating time a method may use per application or
// webhook in the rolling 10 minutes before OPERATION_TIME_LIMIT (default 480 s).
// limit <= 0 disables the limiter (no "operating" in the time object either).
func WithOperationTimeLimit(limit time.Duration) Option {
	return func(c *config) { c.opLimit = limit }
}

// WithTokenLifetime sets the lifetime of issued access tokens (default 1 h).
func WithTokenLifetime(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.tokenLifetime = d
		}
	}
}

// WithRefreshTokenLifetime sets how long a refresh token can be used, on the server's
// clock ([WithClock]); the default is 180 days. An expired one gets invalid_grant.
func WithRefreshTokenLifetime(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.refreshLifetime = d
		}
	}
}

// WithScope sets the scope of the installed application's tokens, a comma-separated
// list such as "placement,user" (the default, [DefaultScope]). user.option.*,
// app.option.*, batch and the other _global methods need no scope; userfieldtype.*
// needs "placement".
func WithScope(scope string) Option {
	return func(c *config) { c.scope = normalizeScope(scope) }
}

// WithWebhookScope sets the scope of the default inbound webhook ([DefaultWebhookScope]).
func WithWebhookScope(scope string) Option {
	return func(c *config) { c.webhookScope = normalizeScope(scope) }
}

// WithPlainHTTP serves http:// instead of https://. Webhook calls then fail with
// INVALID_REQUEST "Https required." like on a real portal; OAuth calls still work.
func WithPlainHTTP() Option {
	return func(c *config) { c.plainHTTP = true }
}

// WithClock replaces time.Now for token expiry, the leaky bucket, the operating-time
// buckets and the time fields of answers.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithSystemErrorStatus changes the HTTP status the fake sends with a system error code
// (matched case-insensitively), e.g. WithSystemErrorStatus("OVERLOAD_LIMIT", 503) to
// mimic the documentation instead of the source. It applies to NO_AUTH_FOUND,
// INVALID_REQUEST, INVALID_CREDENTIALS, OVERLOAD_LIMIT, ACCESS_DENIED (the plan gate
// only), invalid_token, expired_token, insufficient_scope, user_access_error,
// PORTAL_DELETED, ERROR_METHOD_NOT_FOUND, QUERY_LIMIT_EXCEEDED, OPERATION_TIME_LIMIT,
// INTERNAL_WRONG_TRANSPORT and the token endpoint's PAYMENT_REQUIRED.
func WithSystemErrorStatus(code string, status int) Option {
	return func(c *config) {
		if status >= 100 && status <= 999 {
			c.statuses[strings.ToLower(code)] = status
		}
	}
}

func normalizeScope(scope string) string {
	var out []string
	for _, p := range strings.Split(scope, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

// status returns the configured HTTP status of a system error code.
func (s *Server) status(code string, def int) int {
	if st, ok := s.cfg.statuses[strings.ToLower(code)]; ok {
		return st
	}
	return def
}

func (s *Server) sysErr(def int, code, desc string) *restError {
	return newErr(s.status(code, def), code, desc)
}
