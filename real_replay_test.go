package bitrix24_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// readmeSentinels is the README's error table: the sentinel each code matches.
var readmeSentinels = map[string]error{
	"ERROR_ARGUMENT": bitrix24.ErrArgument, "ARGUMENTNULLEXCEPTION": bitrix24.ErrArgument, "INVALID_ARG_VALUE": bitrix24.ErrArgument,
	"ERROR_NOT_FOUND": bitrix24.ErrNotFound, "NOT_FOUND": bitrix24.ErrNotFound,
	"ERROR_CORE":              bitrix24.ErrCore,
	"ERROR_WRONG_HANDLER_URL": bitrix24.ErrWrongHandlerURL, "ERROR_UNSUPPORTED_PROTOCOL": bitrix24.ErrWrongHandlerURL,
	"ERROR_METHOD_NOT_FOUND": bitrix24.ErrMethodNotFound,
	"QUERY_LIMIT_EXCEEDED":   bitrix24.ErrQueryLimitExceeded,
	"OPERATION_TIME_LIMIT":   bitrix24.ErrOperationTimeLimit,
	"OVERLOAD_LIMIT":         bitrix24.ErrOverloadLimit,
	"NO_AUTH_FOUND":          bitrix24.ErrNoAuthFound,
	"EXPIRED_TOKEN":          bitrix24.ErrExpiredToken,
	"INVALID_TOKEN":          bitrix24.ErrInvalidToken,
	"INVALID_CREDENTIALS":    bitrix24.ErrInvalidCredentials,
	"INSUFFICIENT_SCOPE":     bitrix24.ErrInsufficientScope,
	"ACCESS_DENIED":          bitrix24.ErrAccessDenied, "ACCESSEXCEPTION": bitrix24.ErrAccessDenied,
	"BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION":      bitrix24.ErrAccessDenied,
	"BITRIX_REST_V3_EXCEPTION_INSUFFICIENTSCOPEEXCEPTION": bitrix24.ErrInsufficientScope,
	"WRONG_AUTH_TYPE":                bitrix24.ErrWrongAuthType,
	"USER_ACCESS_ERROR":              bitrix24.ErrUserAccess,
	"INVALID_REQUEST":                bitrix24.ErrHTTPSRequired,
	"PORTAL_DELETED":                 bitrix24.ErrPortalDeleted,
	"INTERNAL_SERVER_ERROR":          bitrix24.ErrInternal,
	"ERROR_BATCH_METHOD_NOT_ALLOWED": bitrix24.ErrBatchMethodNotAllowed,
	"ERROR_BATCH_LENGTH_EXCEEDED":    bitrix24.ErrBatchLengthExceeded,
	"PAYMENT_REQUIRED":               bitrix24.ErrPaymentRequired,
	"INVALID_GRANT":                  bitrix24.ErrInvalidGrant,
	"INVALID_CLIENT":                 bitrix24.ErrInvalidClient, "WRONG_CLIENT": bitrix24.ErrInvalidClient,
}

// emptyCodeSentinels: errors recorded with "error": "" and only a description.
var emptyCodeSentinels = map[string]error{
	"Not found":                     bitrix24.ErrNotFound,
	"ID is not defined or invalid.": bitrix24.ErrArgument,
}

// wireError is what an error answer carries: v1's {"error","error_description"} or REST
// v3's {"error":{"code","message"}}.
func wireError(t *testing.T, raw json.RawMessage) (code, desc string, ok bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m["error"] == nil {
		return "", "", false
	}
	var v3 struct{ Code, Message string }
	if json.Unmarshal(m["error"], &code) != nil {
		require.NoError(t, json.Unmarshal(m["error"], &v3))
		return v3.Code, v3.Message, true
	}
	_ = json.Unmarshal(m["error_description"], &desc)
	return code, desc, code != "" || desc != ""
}

// errorStatus is the HTTP status the answer came with (reference §3, [obs] where known).
func errorStatus(code string) int {
	switch strings.ToUpper(code) {
	case "QUERY_LIMIT_EXCEEDED":
		return http.StatusServiceUnavailable
	case "EXPIRED_TOKEN", "INVALID_TOKEN", "NO_AUTH_FOUND", "INVALID_CREDENTIALS", "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION":
		return http.StatusUnauthorized
	case "ACCESS_DENIED", "ACCESSEXCEPTION", "WRONG_AUTH_TYPE":
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// assertAPIError checks err against the error the answer carries.
func assertAPIError(t *testing.T, err error, code, desc string) {
	t.Helper()
	var apiErr *bitrix24.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, code, apiErr.Code)
	assert.Equal(t, desc, apiErr.Description)
	if want := readmeSentinels[strings.ToUpper(code)]; want != nil {
		assert.ErrorIs(t, err, want)
	} else if want := emptyCodeSentinels[desc]; code == "" && want != nil {
		assert.ErrorIs(t, err, want)
	}
	for _, s := range allSecrets {
		assert.NotContains(t, err.Error(), s)
	}
}

func jsonEqual(t *testing.T, want, got json.RawMessage, msg string) {
	t.Helper()
	var w, g any
	require.NoError(t, json.Unmarshal(want, &w), msg)
	require.NoError(t, json.Unmarshal(got, &g), msg)
	assert.Equal(t, w, g, msg)
}

// TestRealCorpusReplay sends every recorded answer through the path a user takes and
// checks the documented outcome.
func TestRealCorpusReplay(t *testing.T) {
	t.Parallel()
	for _, f := range realFiles(t) {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			switch f.kind {
			case realCall:
				for _, a := range f.answers {
					replayCall(t, a)
				}
			case realBatch:
				for _, a := range f.answers {
					replayBatch(t, a)
				}
			case realToken:
				replayRefresh(t, f.answers[0])
				replayExchange(t, f.answers[0])
			case realEvent:
				replayEvent(t, f)
			case realPlacement:
				replayPlacement(t, f)
			}
		})
	}
}

func replayCall(t *testing.T, answer json.RawMessage) {
	c, mt := newWebhookClient(t)
	code, desc, isErr := wireError(t, answer)
	status := http.StatusOK
	if isErr {
		status = errorStatus(code)
	}
	mt.RegisterResponder("POST", testWebhook+"server.time", httpmock.NewBytesResponder(status, answer))
	var result json.RawMessage
	var resp bitrix24.Response
	err := c.Call(context.Background(), "server.time", nil, &result, bitrix24.WithResponse(&resp))
	if isErr {
		assertAPIError(t, err, code, desc)
		return
	}
	require.NoError(t, err)
	var env struct {
		Result json.RawMessage
		Total  *int
		Next   *int
		Time   *struct {
			Start, Duration, Operating float64
			OperatingResetAt           int64 `json:"operating_reset_at"`
		}
	}
	require.NoError(t, json.Unmarshal(answer, &env))
	jsonEqual(t, env.Result, result, "result")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	if env.Total != nil {
		assert.Equal(t, *env.Total, resp.Total, "total")
	}
	assert.Equal(t, env.Next != nil, resp.HasNext, "next present")
	if env.Next != nil {
		assert.Equal(t, *env.Next, resp.Next, "next")
	}
	if env.Time != nil {
		assertTime(t, env.Time.Start, env.Time.Duration, env.Time.Operating, env.Time.OperatingResetAt, resp.Time)
	}
}

func assertTime(t *testing.T, start, duration, operating float64, resetAt int64, got bitrix24.CallTime) {
	t.Helper()
	assert.InDelta(t, start, float64(got.Start.UnixNano())/1e9, 1e-3, "time.start")
	assert.InDelta(t, duration, got.Duration.Seconds(), 1e-6, "time.duration")
	assert.InDelta(t, operating, got.Operating.Seconds(), 1e-6, "time.operating")
	if resetAt != 0 {
		assert.Equal(t, resetAt, got.OperatingResetAt.Unix(), "time.operating_reset_at")
	} else {
		assert.True(t, got.OperatingResetAt.IsZero())
	}
}

// sections reads a batch section: an object, or a list keyed "0".."n-1".
func sections(t *testing.T, raw json.RawMessage) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	if len(raw) > 0 && raw[0] == '[' {
		var l []json.RawMessage
		require.NoError(t, json.Unmarshal(raw, &l))
		for i, v := range l {
			out[strconv.Itoa(i)] = v
		}
		return out
	}
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

func replayBatch(t *testing.T, answer json.RawMessage) {
	var env struct{ Result map[string]json.RawMessage }
	require.NoError(t, json.Unmarshal(answer, &env))
	secs := map[string]map[string]json.RawMessage{}
	keySet := map[string]bool{}
	for _, name := range []string{"result", "result_error", "result_total", "result_next", "result_time"} {
		require.Contains(t, env.Result, name)
		secs[name] = sections(t, env.Result[name])
		for k := range secs[name] {
			keySet[k] = true
		}
	}
	var cmds []bitrix24.BatchCommand
	for k := range keySet {
		cmds = append(cmds, bitrix24.BatchCommand{Key: k, Method: "server.time"})
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Key < cmds[j].Key })
	c, mt := newWebhookClient(t)
	mt.RegisterResponder("POST", testWebhook+"batch", httpmock.NewBytesResponder(http.StatusOK, answer))
	res, err := c.Batch(context.Background(), false, cmds...)
	require.NoError(t, err)
	require.Len(t, res.Results, len(secs["result"]))
	for k, v := range secs["result"] {
		jsonEqual(t, v, res.Results[k], "result "+k)
	}
	require.Len(t, res.Errors, len(secs["result_error"]))
	for k, v := range secs["result_error"] {
		code, desc, _ := wireError(t, v)
		assertAPIError(t, res.Errors[k], code, desc)
		assert.Equal(t, http.StatusOK, res.Errors[k].StatusCode)
		assert.Equal(t, "server.time", res.Errors[k].Method)
	}
	for k, v := range secs["result_total"] {
		n, _ := strconv.Atoi(string(v))
		assert.Equal(t, n, res.Totals[k], "total "+k)
	}
	for k, v := range secs["result_next"] {
		n, _ := strconv.Atoi(string(v))
		assert.Equal(t, n, res.Nexts[k], "next "+k)
	}
	require.Len(t, res.Times, len(secs["result_time"]))
	for k, v := range secs["result_time"] {
		var tm struct {
			Start, Duration, Operating float64
			OperatingResetAt           int64 `json:"operating_reset_at"`
		}
		require.NoError(t, json.Unmarshal(v, &tm))
		assertTime(t, tm.Start, tm.Duration, tm.Operating, tm.OperatingResetAt, res.Times[k])
	}
}

// tokenFields is what a token answer carries.
type tokenFields struct {
	AccessToken    string      `json:"access_token"`
	RefreshToken   string      `json:"refresh_token"`
	ExpiresIn      json.Number `json:"expires_in"`
	Scope          string      `json:"scope"`
	MemberID       string      `json:"member_id"`
	ClientEndpoint string      `json:"client_endpoint"`
	ServerEndpoint string      `json:"server_endpoint"`
	UserID         int         `json:"user_id"`
}

func assertPair(t *testing.T, want tokenFields, got bitrix24.Token, before time.Time) {
	t.Helper()
	assert.Equal(t, want.AccessToken, got.AccessToken)
	assert.Equal(t, want.RefreshToken, got.RefreshToken)
	assert.Equal(t, want.Scope, got.Scope)
	assert.Equal(t, want.MemberID, got.MemberID)
	assert.Equal(t, want.ClientEndpoint, got.ClientEndpoint)
	assert.Equal(t, want.ServerEndpoint, got.ServerEndpoint)
	// Expiry counts from expires_in and the client's clock: recorded "expires" values
	// lie in the past.
	sec, _ := want.ExpiresIn.Int64()
	assert.WithinDuration(t, before.Add(time.Duration(sec)*time.Second), got.Expiry, time.Minute)
}

// replayRefresh: an OAuth client whose pair has expired refreshes at the token endpoint,
// which answers with the recording.
func replayRefresh(t *testing.T, answer json.RawMessage) {
	code, desc, isErr := wireError(t, answer)
	var adopted []bitrix24.Token
	cfg := testOAuthConfig()
	cfg.Token.Expiry = time.Now().Add(-time.Hour)
	cfg.OnTokenRefresh = func(_ context.Context, tok bitrix24.Token) error {
		adopted = append(adopted, tok)
		return nil
	}
	c, mt := newOAuthClient(t, cfg)
	status := http.StatusOK
	if isErr {
		status = http.StatusBadRequest
	}
	mt.RegisterResponder("POST", testTokenURL, httpmock.NewBytesResponder(status, answer))
	var sentAuth string
	mt.RegisterResponder("POST", testPortal+"/rest/profile", func(r *http.Request) (*http.Response, error) {
		var body struct{ Auth string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		sentAuth = body.Auth
		return httpmock.NewStringResponse(http.StatusOK, `{"result":{"ID":"1"}}`), nil
	})
	before := time.Now()
	err := c.Call(context.Background(), "profile", nil, nil)
	if isErr {
		assertAPIError(t, err, code, desc)
		assert.Empty(t, adopted)
		return
	}
	require.NoError(t, err)
	var want tokenFields
	require.NoError(t, json.Unmarshal(answer, &want))
	require.Len(t, adopted, 1)
	assertPair(t, want, adopted[0], before)
	assert.Equal(t, want.UserID, adopted[0].UserID)
	assert.Equal(t, want.AccessToken, sentAuth, "the call uses the adopted access token")
}

// replayExchange: App.Exchange trades a code, and the token endpoint answers with the
// recording.
func replayExchange(t *testing.T, answer json.RawMessage) {
	code, desc, isErr := wireError(t, answer)
	mt := newMock(t)
	app := &bitrix24.App{ClientID: "local.5f2a.client", ClientSecret: testSecret, TokenURL: testTokenURL,
		ServerEndpoint: "https://oauth.example.test/rest/", Options: fastOptions(mt)}
	status := http.StatusOK
	if isErr {
		status = http.StatusBadRequest
	}
	mt.RegisterResponder("POST", testTokenURL, httpmock.NewBytesResponder(status, answer))
	// A pair without user_id makes Exchange ask app.info whose pair it is, on the server
	// that issued it (a recorded answer may name oauth.bitrix24.tech, a trusted default).
	mt.RegisterResponder("POST", `=~^https://oauth\.(example\.test|bitrix\.info|bitrix24\.tech)/rest/app\.info$`,
		httpmock.NewStringResponder(http.StatusUnauthorized, `{"error":"invalid_token","error_description":""}`))
	before := time.Now()
	tok, err := app.Exchange(context.Background(), "c0de0123456789")
	if isErr {
		assertAPIError(t, err, code, desc)
		return
	}
	require.NoError(t, err)
	var want tokenFields
	require.NoError(t, json.Unmarshal(answer, &want))
	assertPair(t, want, tok, before)
	assert.Equal(t, want.UserID, tok.UserID)
}
