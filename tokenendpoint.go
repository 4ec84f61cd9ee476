package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/b24go/bitrix24/internal/envelope"
	"github.com/b24go/bitrix24/internal/redact"
)

// refreshMethod names the token endpoint in errors.
const refreshMethod = "oauth/token"

// maxTokenAnswer bounds the token endpoint's answer: a pair is a few hundred bytes.
const maxTokenAnswer = 1 << 20

// formPoster sends a form and returns the answer; replayable false forbids the HTTP
// layer to send it twice (a refresh token or an authorization code works once).
type formPoster func(ctx context.Context, target string, form url.Values, replayable bool) (*httpAnswer, error)

// tokenEndpoint is the OAuth server's token endpoint for one application. Every grant is
// a form POST: the client secret, codes and refresh tokens never go into a URL.
type tokenEndpoint struct {
	url, clientID, clientSecret string
	post                        formPoster
	secrets                     *redact.Secrets
}

// refresh trades a refresh token for a new pair (refresh_token grant).
func (te tokenEndpoint) refresh(ctx context.Context, refreshToken string) (Token, error) {
	return te.grant(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// exchange trades an authorization code for a pair (authorization_code grant).
func (te tokenEndpoint) exchange(ctx context.Context, code string) (Token, error) {
	te.secrets.Add(code)
	return te.grant(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code}})
}

func (te tokenEndpoint) grant(ctx context.Context, form url.Values) (Token, error) {
	form.Set("client_id", te.clientID)
	form.Set("client_secret", te.clientSecret)
	ans, err := te.post(ctx, te.url, form, false)
	if err != nil {
		return Token{}, fmt.Errorf("bitrix24: %s: %w", refreshMethod, err)
	}
	defer ans.release()
	return parseTokenAnswer(te.secrets, ans)
}

// tokenAnswer is the token endpoint's JSON; every field but the tokens is optional.
type tokenAnswer struct {
	AccessToken    string          `json:"access_token"`
	RefreshToken   string          `json:"refresh_token"`
	Expires        json.Number     `json:"expires"`
	ExpiresIn      json.Number     `json:"expires_in"`
	Scope          string          `json:"scope"`
	MemberID       string          `json:"member_id"`
	ClientEndpoint string          `json:"client_endpoint"`
	ServerEndpoint string          `json:"server_endpoint"`
	UserID         json.RawMessage `json:"user_id"`
}

// parseTokenAnswer reads a pair, or the OAuth error the endpoint sent instead. A pair
// whose expiry is out of range comes back with an error matching [ErrValidation] and
// [ErrUnexpectedResponse].
func parseTokenAnswer(secrets *redact.Secrets, ans *httpAnswer) (Token, error) {
	arrived := time.Now()
	status, data := ans.status, ans.body
	if len(data) > maxTokenAnswer {
		return Token{}, unexpectedAnswer(secrets, refreshMethod, status, "answer too large", nil)
	}
	var ta tokenAnswer
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	decErr := dec.Decode(&ta)
	// Whatever else happens, tokens the answer carried must never be shown.
	secrets.Add(ta.AccessToken, ta.RefreshToken)
	if _, e, _ := envelope.Decode(data); e != nil {
		return Token{}, apiError(secrets, refreshMethod, status, e.Code, e.Description, e.Argument)
	}
	if ta.AccessToken == "" || ta.RefreshToken == "" || status >= 300 {
		return Token{}, unexpectedAnswer(secrets, refreshMethod, status, "not a token answer", data)
	}
	// A field of the wrong type does not stop the decoder: the pair it read was bought
	// with a spent refresh token, so it comes back, with the error.
	var malformed error
	if decErr != nil {
		malformed = unexpectedAnswer(secrets, refreshMethod, status, "a field of the token answer is malformed", nil)
		if _, err := strconv.ParseInt(ta.ExpiresIn.String(), 10, 64); err != nil {
			ta.ExpiresIn = "" // unknown, not refused twice
		}
		if _, err := strconv.ParseInt(ta.Expires.String(), 10, 64); err != nil {
			ta.Expires = ""
		}
	}
	tok := Token{
		AccessToken:    ta.AccessToken,
		RefreshToken:   ta.RefreshToken,
		Scope:          ta.Scope,
		MemberID:       ta.MemberID,
		ClientEndpoint: ta.ClientEndpoint,
		ServerEndpoint: ta.ServerEndpoint,
	}
	// expires_in counts from the answer's arrival, as x/oauth2 does: expires is the
	// server's clock, which may be far from ours (recorded answers of 2021 say 2021).
	// An expiry that overflows is refused, never wrapped; the pair comes back with it
	// (Expiry unknown) because the refresh token that bought it is spent.
	expiry, expErr := expiryFrom(ta.Expires.String(), ta.ExpiresIn.String(), arrived)
	tok.Expiry = expiry
	tok.UserID, _ = strconv.Atoi(strings.Trim(string(ta.UserID), `" `))
	if expErr != nil {
		return tok, fmt.Errorf("%w: %w", unexpectedAnswer(secrets, refreshMethod, status, "the expiry is out of range", nil), expErr)
	}
	return tok, malformed
}
