package main

import (
	"errors"
	"strings"

	"github.com/b24go/bitrix24"
)

// cliNames maps what the library's validation errors name (Go fields and options) to
// what a user of the tool sets: flags and environment variables.
var cliNames = []struct{ lib, cli string }{
	{"OAuthConfig.PortalURL", "--portal-url (" + envPortalURL + ")"},
	{"OAuthConfig.TokenURL", "--token-url (" + envTokenURL + ")"},
	{"OAuthConfig.ClientID", "--client-id (" + envClientID + ")"},
	{"OAuthConfig.ClientSecret", "--client-secret (" + envClientSecret + ")"},
	{"OAuthConfig.Token.AccessToken", "the token pair (" + envTokenFile + ")"},
	{"webhookURL", "--webhook-url (" + envWebhookURL + ")"},
	{"WithAllowHTTP", "--allow-http"},
	{"WithRateLimit", "--rate and --burst"},
	{"WithTimeout", "--timeout"},
	{"WithPagesPerRequest", "--pages-per-request"},
	{"WithDescending", "--desc"},
	{"WithRowsKey", "--rows-key"},
	{"WithIDField", "--id-field"},
	{"OfflinePageSize", "--page-size"},
	{"OfflinePoll", "--interval"},
	{"OfflineFilter", "--filter"},
	{"FromConnector", "--connector"},
	{"EventBinding.Event", "EVENT"},
	{"EventBinding.Handler", "--handler"},
	{"EventBinding.AuthType", "--auth-type"},
	{"EventBinding.Connector", "--connector"},
	{"EventBinding.Offline", "--offline"},
}

// flagError is a library error told in the tool's words. It unwraps to the original, so
// the exit status (exitCode) and errors.Is/As still see the library's error.
type flagError struct {
	msg string
	err error
}

func (e flagError) Error() string { return e.msg }
func (e flagError) Unwrap() error { return e.err }

// inToolWords rewrites the names of Go fields and options in an error (a validation
// error, or an answer's shape error that says which option to set) as the flags and
// variables that set them; other errors pass unchanged.
func inToolWords(err error) error {
	var ve *bitrix24.ValidationError
	if err == nil || !errors.As(err, &ve) && !errors.Is(err, bitrix24.ErrUnexpectedResponse) {
		return err
	}
	msg := err.Error()
	for _, n := range cliNames {
		msg = strings.ReplaceAll(msg, n.lib, n.cli)
	}
	if msg == err.Error() {
		return err
	}
	return flagError{msg: msg, err: err}
}
