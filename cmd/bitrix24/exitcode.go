package main

import (
	"context"
	"errors"
	"net"
	"net/url"

	"github.com/b24go/bitrix24"
)

// Exit statuses by error class, documented in the root command's help.
const (
	exitOK          = 0
	exitFailure     = 1   // anything else: a local file, ...
	exitValidation  = 2   // bad input or usage; nothing was sent
	exitAuth        = 3   // authentication or authorization
	exitLimit       = 4   // rate or operating limit
	exitNotFound    = 5   // the entity, method or option does not exist
	exitAPI         = 6   // any other error the API answered
	exitTransport   = 7   // network, TLS, timeout, an answer that is not Bitrix24 JSON
	exitInterrupted = 130 // SIGINT or SIGTERM
)

// usageError is a mistake on the command line: a flag, an argument, a parameter.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// notFoundError is something absent that is not an API error (an option not set).
type notFoundError struct{ msg string }

func (e notFoundError) Error() string        { return e.msg }
func (e notFoundError) Is(target error) bool { return target == bitrix24.ErrNotFound }

// Sentinels of each class. Every sentinel of the SDK is in one of them or is an
// "other API error".
var (
	authErrors = []error{
		bitrix24.ErrNoAuthFound, bitrix24.ErrExpiredToken, bitrix24.ErrInvalidToken,
		bitrix24.ErrInvalidCredentials, bitrix24.ErrInsufficientScope, bitrix24.ErrAccessDenied,
		bitrix24.ErrWrongAuthType, bitrix24.ErrUserAccess, bitrix24.ErrInvalidGrant,
		bitrix24.ErrInvalidClient, bitrix24.ErrTokenNotFound,
	}
	limitErrors = []error{
		bitrix24.ErrQueryLimitExceeded, bitrix24.ErrOperationTimeLimit, bitrix24.ErrOverloadLimit,
	}
	notFoundErrors = []error{bitrix24.ErrNotFound, bitrix24.ErrMethodNotFound, bitrix24.ErrEventNotFound}
)

// exitCode classifies err. The order matters where an error could match two classes:
// a validation failure is never sent, so nothing else applies to it.
func exitCode(err error) int {
	var ue usageError
	var apiErr *bitrix24.APIError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.Is(err, bitrix24.ErrValidation):
		return exitValidation
	case isAny(err, authErrors):
		return exitAuth
	case isAny(err, limitErrors):
		return exitLimit
	case isAny(err, notFoundErrors):
		return exitNotFound
	case errors.As(err, &apiErr):
		return exitAPI
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case isTransport(err):
		return exitTransport
	}
	return exitFailure
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// isTransport reports a failure to get a Bitrix24 answer at all. (Not any net.Error:
// a syscall.Errno is one, and a local file's error must not look like the network's.)
func isTransport(err error) bool {
	var urlErr *url.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	return errors.Is(err, bitrix24.ErrUnexpectedResponse) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &urlErr) || errors.As(err, &opErr) || errors.As(err, &dnsErr)
}
