package bitrix24test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// PHP arrays keep insertion order: stored options come back in the order they were
// first set, whatever the body format; a later set replaces values in place.
func TestOptionsKeepInsertionOrder(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	tok := url.QueryEscape(s.Token().AccessToken)
	post := func(ct, body string) {
		t.Helper()
		r := send(t, s, http.MethodPost, s.URL+"/rest/user.option.set?auth="+tok, ct, body, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.raw)
	}
	post("application/json", `{"options":{"zeta":1,"alpha":{"y":1,"b":2},"mid":3}}`)
	post("application/x-www-form-urlencoded", "options[omega]=4&options[alpha]=5&options[beta]=6")
	post("application/json", `{"gamma":7,"able":8}`) // the flat form

	r := send(t, s, http.MethodGet, s.URL+"/rest/user.option.get?auth="+tok, "", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.raw), `"result":{"zeta":1,"alpha":"5","mid":3,"omega":"4","beta":"6","gamma":7,"able":8}`)

	post("application/json", `{"options":{"nested":{"y":1,"b":{"z":1,"a":2}}}}`)
	r = send(t, s, http.MethodGet, s.URL+"/rest/user.option.get?option=nested&auth="+tok, "", "", nil)
	assert.Contains(t, string(r.raw), `"result":{"y":1,"b":{"z":1,"a":2}}`)

	// A batch command's query string gives the order too, and so does app.option.set.
	r = callJSON(t, s, "batch", map[string]any{"cmd": map[string]any{"a": "app.option.set?options[q]=1&options[c]=2"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.raw)
	r = callJSON(t, s, "app.option.get", nil)
	assert.Contains(t, string(r.raw), `"result":{"q":"1","c":"2"}`)
}

func TestRefreshTokenLifetimeAndRevocation(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newSrv(t, WithClock(clk.Now))
	cfg := s.OAuthConfig()

	clk.Advance(DefaultRefreshTokenLifetime - time.Second)
	r := refresh(t, s, http.MethodPost, cfg.ClientID, cfg.ClientSecret, s.Token().RefreshToken)
	require.Equal(t, http.StatusOK, r.status, "%s", r.raw)

	clk.Advance(DefaultRefreshTokenLifetime) // the new pair's refresh token is 180 days old
	r = refresh(t, s, http.MethodPost, cfg.ClientID, cfg.ClientSecret, s.Token().RefreshToken)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "invalid_grant", r.errCode())

	short := newSrv(t, WithClock(clk.Now), WithRefreshTokenLifetime(time.Hour))
	sc := short.OAuthConfig()
	clk.Advance(time.Hour)
	r = refresh(t, short, http.MethodPost, sc.ClientID, sc.ClientSecret, sc.Token.RefreshToken)
	assert.Equal(t, "invalid_grant", r.errCode())

	v := newSrv(t)
	vc := v.OAuthConfig()
	assert.True(t, v.RevokeRefreshToken(vc.Token.RefreshToken))
	assert.False(t, v.RevokeRefreshToken(vc.Token.RefreshToken))
	r = refresh(t, v, http.MethodPost, vc.ClientID, vc.ClientSecret, vc.Token.RefreshToken)
	assert.Equal(t, "invalid_grant", r.errCode())
	requireResult(t, callJSONAs(t, v, vc.Token.AccessToken, "server.time", nil)) // access still works

	other := v.InstallApp("user")
	v.RevokeRefreshTokens()
	r = refresh(t, v, http.MethodPost, other.ClientID, other.ClientSecret, other.Token.RefreshToken)
	assert.Equal(t, "invalid_grant", r.errCode())
}

func TestTokenEndpointPaymentRequired(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	cfg := s.OAuthConfig()
	s.SetCommercialPlan(false)
	r := refresh(t, s, http.MethodPost, cfg.ClientID, cfg.ClientSecret, cfg.Token.RefreshToken)
	assert.Equal(t, http.StatusPaymentRequired, r.status)
	assert.Equal(t, `{"error":"PAYMENT_REQUIRED","error_description":"Payment required"}`, string(r.raw))
	// A wrong secret is still invalid_client; the refresh token was not used up.
	r = refresh(t, s, http.MethodPost, cfg.ClientID, "wrong", cfg.Token.RefreshToken)
	assert.Equal(t, "invalid_client", r.errCode())
	s.SetCommercialPlan(true)
	r = refresh(t, s, http.MethodPost, cfg.ClientID, cfg.ClientSecret, cfg.Token.RefreshToken)
	assert.Equal(t, http.StatusOK, r.status, "%s", r.raw)

	l := s.RequestLog().ForMethod("oauth/token")
	require.Len(t, l, 3)
	assert.Equal(t, "PAYMENT_REQUIRED", l[0].ErrorCode)
	assert.Equal(t, http.StatusOK, l[2].Status)
	assert.Equal(t, 1, l[2].UserID)
	assert.Equal(t, cfg.ClientID, l[2].ClientID)
}

func TestSeeding(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	id := s.ClientID()
	require.NoError(t, s.SetUserOptions(id, 2, map[string]any{"b": 1, "a": []string{"x"}}))
	require.NoError(t, s.SetUserOptions(id, 2, map[string]any{"c": true}))
	assert.Equal(t, map[string]any{"a": []any{"x"}, "b": jsonNum("1"), "c": true}, s.UserOptions(id, 2))
	r := callJSONAs(t, s, s.OAuthConfigForUser(2).Token.AccessToken, "user.option.get", nil)
	assert.Contains(t, string(r.raw), `"result":{"a":["x"],"b":1,"c":true}`)

	require.NoError(t, s.SetAppOptions(id, map[string]any{"mode": "fast"}))
	assert.Equal(t, "fast", requireResult(t, callJSON(t, s, "app.option.get", map[string]any{"option": "mode"})))

	require.Error(t, s.SetUserOptions("local.nope", 1, map[string]any{"a": 1}))
	require.Error(t, s.SetAppOptions("local.nope", map[string]any{"a": 1}))
	require.Error(t, s.SetUserOptions(id, 1, map[string]any{"a": make(chan int)}))

	rec := UserFieldTypeRecord{ClientID: id, UserTypeID: "Rating", Handler: "https://app.example.com/uf"}
	require.NoError(t, s.AddUserFieldType(rec))
	assert.Equal(t, []UserFieldTypeRecord{{ClientID: id, UserTypeID: "rating", Handler: rec.Handler, Title: "rating"}}, s.UserFieldTypes(id))
	list := requireResult(t, callJSON(t, s, "userfieldtype.list", nil))
	assert.Len(t, list, 1)
	require.Error(t, s.AddUserFieldType(rec), "taken")
	require.Error(t, s.AddUserFieldType(UserFieldTypeRecord{ClientID: id, UserTypeID: "x", Handler: "https://localhost/uf"}))
	require.Error(t, s.AddUserFieldType(UserFieldTypeRecord{ClientID: id, Handler: "https://app.example.com/uf"}))
	require.Error(t, s.AddUserFieldType(UserFieldTypeRecord{ClientID: "local.nope", UserTypeID: "y", Handler: "https://a.example.com/"}))
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	id := s.ClientID()
	require.NoError(t, s.SetUserOptions(id, 1, map[string]any{"k": "before"}))
	before := s.Token()
	snap := s.Snapshot()

	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"k": "after", "new": 1}))
	s.AddUser(5, true)
	s.SetPortalDeleted(true)
	cfg := s.OAuthConfig()
	r := refresh(t, s, http.MethodPost, cfg.ClientID, cfg.ClientSecret, cfg.Token.RefreshToken)
	require.Equal(t, http.StatusOK, r.status)
	rotated := s.Token()

	require.NoError(t, s.Restore(snap))
	assert.Equal(t, map[string]any{"k": "before"}, s.UserOptions(id, 1))
	assert.Equal(t, before, s.Token())
	requireResult(t, callJSONAs(t, s, before.AccessToken, "server.time", nil)) // not deleted any more
	requireErr(t, callJSONAs(t, s, rotated.AccessToken, "server.time", nil), 401, "invalid_token", "The access token provided is invalid")

	// The snapshot is unchanged by what happens after a restore.
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"k": "again"}))
	require.NoError(t, s.Restore(snap))
	assert.Equal(t, map[string]any{"k": "before"}, s.UserOptions(id, 1))
	require.Error(t, s.Restore(nil))

	// Another server takes it over.
	o := newSrv(t)
	require.NoError(t, o.Restore(snap))
	assert.Equal(t, id, o.ClientID())
	requireResult(t, callJSONAs(t, o, before.AccessToken, "server.time", nil))
}

func TestRequestLogEntries(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	clk := time.Now()
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"start": 3, "k": "v"}))
	hookJSON(t, s, "user.option.get", nil)
	s.InjectFault("server.time", 1, FaultError(http.StatusBadGateway, "X_FAULT", "x"))
	callJSON(t, s, "server.time", nil)
	s.InjectFault("profile", 1, FaultDrop())
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/rest/profile", nil)
	_, err := clientFor(s).Do(req)
	require.Error(t, err)

	l := s.RequestLog()
	require.Len(t, l, 4)
	assert.Equal(t, []string{"user.option.set", "user.option.get", "server.time", "profile"}, l.Methods())
	set := l[0]
	assert.Equal(t, map[string]any{"k": "v"}, set.Params)
	assert.Equal(t, 3, set.Start)
	assert.Equal(t, "oauth", set.AuthType)
	assert.Equal(t, 1, set.UserID)
	assert.Equal(t, s.ClientID(), set.ClientID)
	assert.Equal(t, http.StatusOK, set.Status)
	assert.Empty(t, set.ErrorCode)
	assert.False(t, set.Time.Before(clk.Add(-time.Second)))

	hook := l[1]
	assert.Equal(t, "webhook", hook.AuthType)
	assert.Equal(t, 1, hook.UserID)
	assert.Empty(t, hook.ClientID)
	assert.Equal(t, "ACCESS_DENIED", hook.ErrorCode)
	assert.Equal(t, http.StatusForbidden, hook.Status)

	assert.Equal(t, "X_FAULT", l[2].ErrorCode)
	assert.Equal(t, http.StatusBadGateway, l[2].Status)
	assert.Zero(t, l[2].UserID, "a faulted request is not authenticated")
	assert.Zero(t, l[3].Status, "a dropped connection has no status")

	assert.Len(t, l.Failed(), 2)
	assert.Len(t, l.ForMethod("USER.OPTION.GET.json"), 1)
	assert.Len(t, l.WithErrorCode("x_fault"), 1)
	assert.Len(t, l.ForUser(1), 2)

	// The copy is the caller's.
	l[0].Params["k"] = "changed"
	assert.Equal(t, "v", s.RequestLog()[0].Params["k"])
	s.ResetRequestLog()
	assert.Empty(t, s.RequestLog())
	_, ok := s.LastRequest("")
	assert.False(t, ok)
	assert.Equal(t, 4, s.Requests(""), "counters survive a reset")
}

func TestRequestLogKeepsTheNewest(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	s.mu.Lock()
	for i := range 2*logKeep + 5 {
		s.record(&Request{Method: "m", Start: i})
	}
	s.mu.Unlock()
	l := s.RequestLog()
	assert.GreaterOrEqual(t, len(l), logKeep)
	assert.Less(t, len(l), 2*logKeep)
	assert.Equal(t, 2*logKeep+4, l[len(l)-1].Start)
}
