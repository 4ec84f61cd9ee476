package bitrix24_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// Item 5: a token answer recorded in 2021 (expires far in the past of today's clock)
// gives an expiry counted from its arrival and expires_in, so the next call does not
// refresh again.
func TestRecordedTokenAnswerDoesNotRefreshEveryCall(t *testing.T) {
	t.Parallel()
	cfg := testOAuthConfig()
	cfg.Token.Expiry = time.Now().Add(-time.Minute) // refresh before the first call
	c, mt := newOAuthClient(t, cfg)
	refreshes := 0
	answer := strings.NewReplacer("ydtj8pho532wydb5ixk78ol7uqlb7sch", testNewAccess, "3s6lr4kr3cv2od4v853gvrchb875bwxb", testNewRefresh,
		"1780319382", "1617000000").Replace(fixture(t, "token_refresh_ok.json"))
	mt.RegisterResponder(http.MethodPost, testTokenURL, func(req *http.Request) (*http.Response, error) {
		refreshes++
		return jsonResponder(200, answer)(req)
	})
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time", jsonResponder(200, `{"result":"2026-01-01T00:00:00+00:00"}`))
	for range 3 {
		require.NoError(t, c.Call(context.Background(), "server.time", nil, nil))
	}
	assert.Equal(t, 1, refreshes)
	assert.WithinDuration(t, time.Now().Add(time.Hour), c.Token().Expiry, time.Minute)
}

// Item 5: expires is used only when expires_in is absent.
func TestEventExpiresOnlyWithoutExpiresIn(t *testing.T) {
	body := "event=ONCRMLEADADD&auth%5Bmember_id%5D=m1&auth%5Bapplication_token%5D=x&auth%5Bexpires%5D=1767265200"
	ev, err := bitrix24.ParseEvent(formRequest(t, "/events", body))
	require.NoError(t, err)
	assert.Equal(t, time.Unix(1767265200, 0), ev.Auth.Token.Expiry)
}

// Item 6: durations and times that overflow are refused, never wrapped.
func TestOverflowingDurationsAreRefused(t *testing.T) {
	const huge = "9223372037" // seconds: more than a time.Duration holds
	event := func(kv string) *http.Request {
		return formRequest(t, "/events", "event=ONCRMLEADADD&auth%5Bmember_id%5D=m1&auth%5Bapplication_token%5D=x&"+kv)
	}
	for _, kv := range []string{
		"auth%5Bexpires_in%5D=" + huge,
		"auth%5Bexpires%5D=99999999999999",
		"ts=99999999999999",
		"auth%5Bexpires_in%5D=-5",
	} {
		_, err := bitrix24.ParseEvent(event(kv))
		require.ErrorIs(t, err, bitrix24.ErrValidation, kv)
	}
	_, err := bitrix24.ParseAppRequest(formRequest(t, "/page?DOMAIN=a.example.test", "member_id=m1&AUTH_ID=x&AUTH_EXPIRES="+huge))
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	r, err := bitrix24.ParseAppRequest(formRequest(t, "/page?DOMAIN=a.example.test", "member_id=m1&AUTH_ID=x&AUTH_EXPIRES=3600"))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), r.Token.Expiry, time.Minute)
}

// Item 6: a token answer whose expires_in overflows is refused with ErrValidation, and
// the pair it carries is kept (the refresh token that bought it is spent).
func TestOverflowingTokenAnswerKeepsThePair(t *testing.T) {
	t.Parallel()
	var saved []bitrix24.Token
	cfg := testOAuthConfig()
	cfg.OnTokenRefresh = func(_ context.Context, tok bitrix24.Token) error { saved = append(saved, tok); return nil }
	cfg.Token.Expiry = time.Now().Add(-time.Minute)
	c, mt := newOAuthClient(t, cfg)
	mt.RegisterResponder(http.MethodPost, testTokenURL, jsonResponder(200,
		`{"access_token":"`+testNewAccess+`","refresh_token":"`+testNewRefresh+`","expires_in":9223372037}`))
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time", jsonResponder(200, `{"result":"x"}`))
	err := c.Call(context.Background(), "server.time", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	require.Len(t, saved, 1)
	assert.Equal(t, testNewRefresh, saved[0].RefreshToken)
	assert.True(t, saved[0].Expiry.IsZero(), "unknown, not wrapped")
	require.NoError(t, c.Call(context.Background(), "server.time", nil, nil), "the kept pair works")
}

// Item 10: however many forged requests arrive at once, at most a few app.info calls
// run at the same time.
func TestVerificationsAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		inflight, peak := 0, 0
		release := make(chan struct{})
		rt := httpmock.NewMockTransport()
		rt.RegisterNoResponder(func(*http.Request) (*http.Response, error) {
			mu.Lock()
			inflight++
			peak = max(peak, inflight)
			mu.Unlock()
			<-release
			mu.Lock()
			inflight--
			mu.Unlock()
			resp := httpmock.NewStringResponse(401, `{"error":"invalid_token","error_description":"The access token provided is invalid"}`)
			resp.Header.Set("Content-Type", "application/json")
			return resp, nil
		})
		app := &bitrix24.App{ClientID: "local.x", ClientSecret: "s", ServerEndpoint: "https://oauth.example.test/rest/",
			Options: fastOptions(rt)}
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				r := &bitrix24.AppRequest{Domain: "a.example.test",
					Token: bitrix24.Token{AccessToken: "forged" + strings.Repeat("x", i), MemberID: "m1"}}
				assert.ErrorIs(t, app.Verify(context.Background(), r), bitrix24.ErrNotVerified)
			})
		}
		synctest.Wait()
		mu.Lock()
		assert.Equal(t, 8, inflight, "the others wait")
		mu.Unlock()
		close(release)
		wg.Wait()
		assert.Equal(t, 8, peak)
	})
}

// Item 11: a misconfigured handler answers 500 and says why at Error level through
// slog.Default() when it has no Logger. (Not parallel: it replaces slog's default.)
func TestMisconfiguredHandlersLogErrors(t *testing.T) {
	var buf syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	seen := 0
	logs := func() string { s := buf.String()[seen:]; seen += len(s); return s }

	app, srv := newAppPortal(t)
	post := func(h http.Handler, req *http.Request) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	form := srv.EventForm("ONCRMLEADADD")
	evReq := formRequest(t, "/events", form.Encode())
	assert.Equal(t, http.StatusInternalServerError, post(&bitrix24.EventHandler{}, evReq))
	out := logs()
	assert.Contains(t, out, "level=ERROR")
	assert.Contains(t, out, "EventHandler.App is nil")

	for name, h := range map[string]*bitrix24.FieldTypeHandler{
		"no edit":     {App: app, View: bitrix24.PlainValues},
		"no renderer": {App: app},
		"no app":      {View: bitrix24.PlainValues, Edit: bitrix24.PlainValues},
	} {
		req, err := srv.UserFieldRequest(context.Background(), "https://app.example.test/field", bitrix24test.UserFieldOptions{Mode: "edit"})
		require.NoError(t, err)
		assert.Equal(t, http.StatusInternalServerError, post(h, req), name)
		out := logs()
		assert.Contains(t, out, "level=ERROR", name)
		assertNoSecret(t, out, srv.ApplicationToken(), app.ClientSecret)
	}
	// A View-only handler still serves view pages.
	req, err := srv.UserFieldRequest(context.Background(), "https://app.example.test/field", bitrix24test.UserFieldOptions{Mode: "view"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, post(&bitrix24.FieldTypeHandler{App: app, View: bitrix24.PlainValues}, req))

	// Refusals stay quiet without a Logger.
	forged := url.Values{}
	for k, v := range form {
		forged[k] = v
	}
	forged.Set("auth[application_token]", "0000aaaa0000aaaa0000aaaa0000aaaa")
	assert.Equal(t, http.StatusForbidden, post(&bitrix24.EventHandler{App: app}, formRequest(t, "/events", forged.Encode())))
	assert.Empty(t, logs())
}
