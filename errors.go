package bitrix24

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors, matched with [errors.Is]. An [*APIError] matches the sentinel of its
// code (compared case-insensitively, see [APIError.Is]); HTTP statuses are not used,
// because Bitrix24 sends the same code with different statuses depending on the path.
var (
	// ErrValidation means a client-side input check failed and nothing was sent. The error is
	// a [*ValidationError] naming the field and the rule.
	ErrValidation = errors.New("bitrix24: invalid input")
	// ErrUnexpectedResponse means the answer was not a Bitrix24 JSON envelope (an HTML page
	// from a proxy, truncated JSON, an oversized body, a redirect). The error is an
	// [*UnexpectedResponseError].
	ErrUnexpectedResponse = errors.New("bitrix24: unexpected response")

	// ErrArgument means a parameter is missing or invalid: ERROR_ARGUMENT, ArgumentNullException, INVALID_ARG_VALUE.
	ErrArgument = errors.New("bitrix24: invalid argument")
	// ErrNotFound means the entity does not exist: ERROR_NOT_FOUND, NOT_FOUND (and an empty code with "Not found").
	ErrNotFound = errors.New("bitrix24: not found")
	// ErrCore means the server failed to store or load: ERROR_CORE (also a USER_TYPE_ID, or a handler URL of the same application, already bound).
	ErrCore = errors.New("bitrix24: core error")
	// ErrWrongHandlerURL means a handler URL was refused: ERROR_WRONG_HANDLER_URL, ERROR_UNSUPPORTED_PROTOCOL.
	ErrWrongHandlerURL = errors.New("bitrix24: wrong handler URL")
	// ErrMethodNotFound means the REST method does not exist: ERROR_METHOD_NOT_FOUND.
	ErrMethodNotFound = errors.New("bitrix24: method not found")
	// ErrQueryLimitExceeded means the portal's leaky bucket refused the request before it ran: QUERY_LIMIT_EXCEEDED.
	ErrQueryLimitExceeded = errors.New("bitrix24: query limit exceeded")
	// ErrOperationTimeLimit means the method used up its operating time in the last 10 minutes: OPERATION_TIME_LIMIT. See [APIError.ResetAt].
	ErrOperationTimeLimit = errors.New("bitrix24: method blocked by operation time limit")
	// ErrOverloadLimit means Bitrix24 support blocked the application or webhook: OVERLOAD_LIMIT.
	ErrOverloadLimit = errors.New("bitrix24: REST API blocked due to overload")
	// ErrNoAuthFound means the request carried no credentials: NO_AUTH_FOUND.
	ErrNoAuthFound = errors.New("bitrix24: no authorization found")
	// ErrExpiredToken means the access token expired: expired_token. OAuth clients refresh and replay once by themselves.
	ErrExpiredToken = errors.New("bitrix24: access token expired")
	// ErrInvalidToken means the access token is unknown: invalid_token.
	ErrInvalidToken = errors.New("bitrix24: invalid access token")
	// ErrInvalidCredentials means the webhook code or user is wrong: INVALID_CREDENTIALS.
	ErrInvalidCredentials = errors.New("bitrix24: invalid webhook credentials")
	// ErrInsufficientScope means the token or webhook lacks the method's scope: insufficient_scope.
	ErrInsufficientScope = errors.New("bitrix24: insufficient scope")
	// ErrAccessDenied means the user, plan or context may not call the method: ACCESS_DENIED.
	ErrAccessDenied = errors.New("bitrix24: access denied")
	// ErrWrongAuthType means the method refuses this kind of authorization (a webhook where an application is needed): WRONG_AUTH_TYPE.
	ErrWrongAuthType = errors.New("bitrix24: authorization type not allowed for this method")
	// ErrUserAccess means the user has no access to the application: user_access_error.
	ErrUserAccess = errors.New("bitrix24: user has no access to the application")
	// ErrHTTPSRequired means a webhook was called over plain HTTP: INVALID_REQUEST.
	ErrHTTPSRequired = errors.New("bitrix24: https required")
	// ErrPortalDeleted means the portal no longer exists: PORTAL_DELETED.
	ErrPortalDeleted = errors.New("bitrix24: portal deleted")
	// ErrInternal means the cloud edge failed: INTERNAL_SERVER_ERROR, ERROR_UNEXPECTED_ANSWER.
	ErrInternal = errors.New("bitrix24: internal server error")
	// ErrBatchMethodNotAllowed means the method may not run inside a batch: ERROR_BATCH_METHOD_NOT_ALLOWED.
	ErrBatchMethodNotAllowed = errors.New("bitrix24: method not allowed in batch")
	// ErrBatchLengthExceeded means a batch held more than 50 commands: ERROR_BATCH_LENGTH_EXCEEDED (Batch chunks, so it never sends one).
	ErrBatchLengthExceeded = errors.New("bitrix24: batch length exceeded")
	// ErrManifestNotAvailable means ERROR_MANIFEST_IS_NOT_AVAILABLE.
	ErrManifestNotAvailable = errors.New("bitrix24: manifest not available")
	// ErrPaymentRequired means the portal's plan does not cover the call: PAYMENT_REQUIRED.
	ErrPaymentRequired = errors.New("bitrix24: payment required")
	// ErrInvalidGrant means the token endpoint refused the refresh token (spent, expired or unknown): invalid_grant.
	ErrInvalidGrant = errors.New("bitrix24: invalid grant (refresh token spent, expired or unknown)")
	// ErrEventNotFound means event.bind does not know the event, or the application's scope
	// does not cover it: ERROR_EVENT_NOT_FOUND.
	ErrEventNotFound = errors.New("bitrix24: event not found")
	// ErrWrongLicense means the portal's plan lacks the feature the call needs, e.g.
	// rest_offline_extended for event.offline.get with clear=0: WRONG_LICENSE.
	ErrWrongLicense = errors.New("bitrix24: feature not enabled for the portal's license")
	// ErrInvalidClient means the token endpoint refused the client id or secret: invalid_client, wrong_client.
	ErrInvalidClient = errors.New("bitrix24: invalid client (wrong client id or secret)")
)

// codeSentinels maps each upper-cased Bitrix24 error code to its sentinel. It covers
// every code of the method references and of the system error table.
var codeSentinels = map[string]error{
	"ERROR_ARGUMENT":             ErrArgument,
	"ARGUMENTNULLEXCEPTION":      ErrArgument, // the docs print the PHP class name
	"INVALID_ARG_VALUE":          ErrArgument,
	"ERROR_NOT_FOUND":            ErrNotFound,
	"NOT_FOUND":                  ErrNotFound,
	"ERROR_CORE":                 ErrCore,
	"ERROR_WRONG_HANDLER_URL":    ErrWrongHandlerURL,
	"ERROR_UNSUPPORTED_PROTOCOL": ErrWrongHandlerURL,
	"ERROR_METHOD_NOT_FOUND":     ErrMethodNotFound,
	"QUERY_LIMIT_EXCEEDED":       ErrQueryLimitExceeded,
	"OPERATION_TIME_LIMIT":       ErrOperationTimeLimit,
	"OVERLOAD_LIMIT":             ErrOverloadLimit,
	"NO_AUTH_FOUND":              ErrNoAuthFound,
	"EXPIRED_TOKEN":              ErrExpiredToken,
	"INVALID_TOKEN":              ErrInvalidToken,
	"INVALID_CREDENTIALS":        ErrInvalidCredentials,
	"INSUFFICIENT_SCOPE":         ErrInsufficientScope,
	"ACCESS_DENIED":              ErrAccessDenied,
	"ACCESSEXCEPTION":            ErrAccessDenied, // the docs print the PHP class name
	// REST v3 (/rest/api/) names the exception class (b24jssdk issue 500).
	"BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION":      ErrAccessDenied,
	"BITRIX_REST_V3_EXCEPTION_INSUFFICIENTSCOPEEXCEPTION": ErrInsufficientScope,
	"WRONG_AUTH_TYPE":                 ErrWrongAuthType,
	"USER_ACCESS_ERROR":               ErrUserAccess,
	"INVALID_REQUEST":                 ErrHTTPSRequired,
	"PORTAL_DELETED":                  ErrPortalDeleted,
	"INTERNAL_SERVER_ERROR":           ErrInternal,
	"ERROR_UNEXPECTED_ANSWER":         ErrInternal,
	"ERROR_BATCH_METHOD_NOT_ALLOWED":  ErrBatchMethodNotAllowed,
	"ERROR_BATCH_LENGTH_EXCEEDED":     ErrBatchLengthExceeded,
	"ERROR_MANIFEST_IS_NOT_AVAILABLE": ErrManifestNotAvailable,
	"PAYMENT_REQUIRED":                ErrPaymentRequired,
	"INVALID_GRANT":                   ErrInvalidGrant,
	"INVALID_CLIENT":                  ErrInvalidClient,
	"WRONG_CLIENT":                    ErrInvalidClient,
	"ERROR_EVENT_NOT_FOUND":           ErrEventNotFound,
	"WRONG_LICENSE":                   ErrWrongLicense,
}

// descriptionSentinels classifies errors that arrive with an empty code (live portals
// send "error": "" with only a description, notably inside batch answers). Only texts the
// server is known to send are listed; the keys are lower-cased and trimmed.
var descriptionSentinels = map[string]error{
	"not found":                                      ErrNotFound,
	"user field type not found":                      ErrNotFound,
	"id is not defined or invalid.":                  ErrArgument,
	"method not found!":                              ErrMethodNotFound,
	"too many requests":                              ErrQueryLimitExceeded,
	"wrong authorization data":                       ErrNoAuthFound,
	"the access token provided has expired":          ErrExpiredToken,
	"invalid request credentials":                    ErrInvalidCredentials,
	"portal was deleted":                             ErrPortalDeleted,
	"internal server error":                          ErrInternal,
	"method is blocked due to operation time limit.": ErrOperationTimeLimit,
}

// APIError is an error answered by Bitrix24: the "error" and "error_description" of the
// envelope, a batch command's entry in result_error, or the token endpoint's answer.
// Use [errors.Is] with the sentinels to branch on it and [errors.As] to read its fields.
type APIError struct {
	Code        string // the "error" field as sent, e.g. "ERROR_NOT_FOUND" or "expired_token"
	Description string // "error_description"
	Argument    string // "argument", when the server names the bad parameter
	StatusCode  int    // HTTP status of the answer (200 for errors inside a batch)
	Method      string // REST method, e.g. "userfieldtype.update"; "oauth/token" for a refresh
	// ResetAt is, for OPERATION_TIME_LIMIT, when the method unblocks: the last
	// time.operating_reset_at the client saw for this method. Zero when unknown.
	ResetAt time.Time
	// RequestID is the X-Request-ID of the request that got the answer (see
	// [WithRequestID]); empty for errors of the token endpoint.
	RequestID string
}

// Error describes the failure. It never contains a secret or the request URL.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("bitrix24: ")
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteString(": ")
	}
	code := e.Code
	if code == "" {
		code = "error without code"
	}
	b.WriteString(code)
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.Argument != "" {
		fmt.Fprintf(&b, " (argument %s)", e.Argument)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if hint := e.hint(); hint != "" {
		b.WriteString("; ")
		b.WriteString(hint)
	}
	return b.String()
}

// hint adds what the user should do for the errors that are easy to misread.
func (e *APIError) hint() string {
	switch {
	case strings.EqualFold(e.Code, "WRONG_AUTH_TYPE"),
		strings.EqualFold(e.Code, "ACCESS_DENIED") && strings.Contains(e.Description, "Application context required"):
		return "this method needs an installed application: use NewOAuthClient, not a webhook"
	case strings.EqualFold(e.Code, "OPERATION_TIME_LIMIT") && !e.ResetAt.IsZero():
		return "blocked until " + e.ResetAt.UTC().Format(time.RFC3339)
	}
	return ""
}

// Is reports whether target is the sentinel of e's code, compared case-insensitively.
// An error with an empty code is matched by its description when that text is one the
// server is known to send (for example "Not found" matches [ErrNotFound]).
func (e *APIError) Is(target error) bool {
	s := e.sentinel()
	return s != nil && s == target
}

func (e *APIError) sentinel() error {
	if e.Code != "" {
		code := strings.ToUpper(e.Code)
		// OAuth's invalid_request (a malformed grant) is not REST's INVALID_REQUEST (a
		// webhook over plain HTTP): only the REST answer means https is required.
		if code == "INVALID_REQUEST" && strings.HasPrefix(e.Method, "oauth/") {
			return nil
		}
		return codeSentinels[code]
	}
	return descriptionSentinels[strings.ToLower(strings.TrimSpace(e.Description))]
}

// IsCode reports whether err is or wraps an [*APIError] whose code equals one of codes,
// case-insensitively. Use it for codes that have no sentinel.
func IsCode(err error, codes ...string) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	for _, c := range codes {
		if strings.EqualFold(apiErr.Code, c) {
			return true
		}
	}
	return false
}

// ValidationError is a client-side input check that failed before anything was sent.
// It matches [ErrValidation].
type ValidationError struct {
	Field string // e.g. "UserFieldType.UserTypeID"
	Rule  string // e.g. "must match ^[a-z0-9]+$"
}

// Error names the field and the rule.
func (e *ValidationError) Error() string {
	return "bitrix24: invalid " + e.Field + ": " + e.Rule
}

// Unwrap makes errors.Is(err, ErrValidation) hold.
func (e *ValidationError) Unwrap() error { return ErrValidation }

func invalid(field, rule string) error { return &ValidationError{Field: field, Rule: rule} }

// UnexpectedResponseError is an answer that is not a Bitrix24 envelope. It matches
// [ErrUnexpectedResponse].
type UnexpectedResponseError struct {
	Method     string
	StatusCode int
	Reason     string // e.g. "body is not JSON", "body exceeds 33554432 bytes"
	// Snippet is the start of the body (at most 256 bytes), with secrets redacted.
	Snippet string

	tooLarge bool // the body exceeded the response limit: the same answer would come again
}

// Error describes the answer; the snippet is redacted and quoted.
func (e *UnexpectedResponseError) Error() string {
	msg := fmt.Sprintf("bitrix24: %s: unexpected response (HTTP %d): %s", e.Method, e.StatusCode, e.Reason)
	if e.Snippet != "" {
		msg += ": " + fmt.Sprintf("%q", e.Snippet)
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrUnexpectedResponse) hold.
func (e *UnexpectedResponseError) Unwrap() error { return ErrUnexpectedResponse }
