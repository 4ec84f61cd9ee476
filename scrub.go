package bitrix24

import (
	"errors"
	"net/url"
	"strings"

	"github.com/b24go/bitrix24/internal/redact"
)

// cleanError returns err with every secret gone from every error of its chain: the text
// that errors.As reaches matters as much as the top-level message (a peer that echoes the
// request line puts the webhook code in a *url.Error's inner error). Errors whose text is
// clean are kept as they are, so errors.Is(err, context.DeadlineExceeded), errors.As into
// *net.OpError and the like keep working; an error whose own text holds a secret is
// replaced by a scrubbedError that shows the scrubbed text and unwraps to the cleaned rest
// of the chain.
func cleanError(secrets *redact.Secrets, err error) error {
	if err == nil || !dirtyChain(secrets, err) {
		return err
	}
	switch e := err.(type) {
	case *url.Error:
		return &url.Error{Op: e.Op, URL: scrubURL(secrets, e.URL), Err: cleanError(secrets, e.Err)}
	case *scrubbedError:
		return &scrubbedError{msg: secrets.String(e.msg), err: cleanError(secrets, e.err)}
	case interface{ Unwrap() []error }:
		var cleaned []error
		for _, inner := range e.Unwrap() {
			cleaned = append(cleaned, cleanError(secrets, inner))
		}
		return &scrubbedError{msg: secrets.String(err.Error()), errs: cleaned}
	}
	return &scrubbedError{msg: secrets.String(err.Error()), err: cleanError(secrets, errors.Unwrap(err))}
}

// dirtyChain reports whether any error reachable from err shows a secret.
func dirtyChain(secrets *redact.Secrets, err error) bool {
	if err == nil {
		return false
	}
	if msg := err.Error(); secrets.String(msg) != msg {
		return true
	}
	if ue, ok := err.(*url.Error); ok && scrubURL(secrets, ue.URL) != ue.URL {
		return true
	}
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if dirtyChain(secrets, inner) {
				return true
			}
		}
		return false
	}
	return dirtyChain(secrets, errors.Unwrap(err))
}

func scrubURL(secrets *redact.Secrets, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[REDACTED URL]"
	}
	return redact.URL(u, secrets.List()...).String()
}

// scrubbedError stands in for an error whose text held a secret: it shows the scrubbed
// text and unwraps to the cleaned remainder of the chain.
type scrubbedError struct {
	msg  string
	err  error
	errs []error
}

func (e *scrubbedError) Error() string { return e.msg }

// Unwrap returns the cleaned errors the original wrapped.
func (e *scrubbedError) Unwrap() []error {
	if e.errs != nil {
		return e.errs
	}
	if e.err == nil {
		return nil
	}
	return []error{e.err}
}

// snippetLimit is how much of an unexpected body an error quotes.
const snippetLimit = 256

// scanLimit is how much of the body is redacted before the snippet is cut from it:
// cutting first could leave the head of a secret that straddles the cut, which the
// redactor no longer recognises.
const scanLimit = 64 << 10

// unexpectedAnswer describes an answer that is not a Bitrix24 envelope, quoting the start
// of its body with every secret removed.
func unexpectedAnswer(secrets *redact.Secrets, method string, status int, reason string, body []byte) error {
	if len(body) > scanLimit {
		body = body[:scanLimit]
	}
	snippet := strings.ToValidUTF8(secrets.String(string(body)), "?")
	if len(snippet) > snippetLimit {
		snippet = strings.ToValidUTF8(snippet[:snippetLimit], "")
	}
	return &UnexpectedResponseError{
		Method:     method,
		StatusCode: status,
		Reason:     secrets.String(reason),
		Snippet:    snippet,
	}
}

// apiError builds the *APIError of an answer, every text field scrubbed: a server may
// echo a token in the code or argument as well as in the description.
func apiError(secrets *redact.Secrets, method string, status int, code, description, argument string) *APIError {
	return &APIError{
		Code:        secrets.String(code),
		Description: secrets.String(description),
		Argument:    secrets.String(argument),
		StatusCode:  status,
		Method:      method,
	}
}
