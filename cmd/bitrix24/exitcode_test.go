package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"

	"github.com/b24go/bitrix24"
)

// Every error code of the SDK's table lands in the class the help documents.
func TestExitCodeOfEveryAPIErrorCode(t *testing.T) {
	t.Parallel()
	want := map[string]int{
		"ERROR_ARGUMENT": exitAPI, "ArgumentNullException": exitAPI, "INVALID_ARG_VALUE": exitAPI,
		"ERROR_NOT_FOUND": exitNotFound, "NOT_FOUND": exitNotFound, "ERROR_METHOD_NOT_FOUND": exitNotFound,
		"ERROR_CORE": exitAPI, "ERROR_WRONG_HANDLER_URL": exitAPI, "ERROR_UNSUPPORTED_PROTOCOL": exitAPI,
		"QUERY_LIMIT_EXCEEDED": exitLimit, "OPERATION_TIME_LIMIT": exitLimit, "OVERLOAD_LIMIT": exitLimit,
		"NO_AUTH_FOUND": exitAuth, "expired_token": exitAuth, "invalid_token": exitAuth,
		"INVALID_CREDENTIALS": exitAuth, "insufficient_scope": exitAuth, "ACCESS_DENIED": exitAuth,
		"WRONG_AUTH_TYPE": exitAuth, "user_access_error": exitAuth, "invalid_grant": exitAuth,
		"invalid_client": exitAuth, "wrong_client": exitAuth,
		"INVALID_REQUEST": exitAPI, "PORTAL_DELETED": exitAPI, "INTERNAL_SERVER_ERROR": exitAPI,
		"ERROR_UNEXPECTED_ANSWER": exitAPI, "ERROR_BATCH_METHOD_NOT_ALLOWED": exitAPI,
		"ERROR_BATCH_LENGTH_EXCEEDED": exitAPI, "ERROR_MANIFEST_IS_NOT_AVAILABLE": exitAPI,
		"PAYMENT_REQUIRED": exitAPI, "SOME_NEW_CODE": exitAPI, "": exitAPI,
	}
	for code, status := range want {
		err := fmt.Errorf("wrapped: %w", &bitrix24.APIError{Code: code, Method: "m", StatusCode: 400})
		if got := exitCode(err); got != status {
			t.Errorf("code %q: exit status %d, want %d", code, got, status)
		}
	}
}

func TestExitCodeOfOtherErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"validation", &bitrix24.ValidationError{Field: "f", Rule: "r"}, exitValidation},
		{"usage", usageError{errors.New("bad flag")}, exitValidation},
		{"no stored pair", fmt.Errorf("x: %w", bitrix24.ErrTokenNotFound), exitAuth},
		{"option not set", notFoundError{"option"}, exitNotFound},
		{"unexpected response", &bitrix24.UnexpectedResponseError{Method: "m", StatusCode: 502}, exitTransport},
		{"url error", &url.Error{Op: "Post", URL: "https://h/", Err: errors.New("EOF")}, exitTransport},
		{"dial", &net.OpError{Op: "dial", Err: errors.New("refused")}, exitTransport},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), exitTransport},
		{"interrupted", fmt.Errorf("x: %w", context.Canceled), exitInterrupted},
		{"local file", &os.PathError{Op: "open", Path: "f", Err: os.ErrNotExist}, exitFailure},
		{"anything else", errors.New("boom"), exitFailure},
	}
	for _, c := range cases {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("%s: exit status %d, want %d", c.name, got, c.want)
		}
	}
}
