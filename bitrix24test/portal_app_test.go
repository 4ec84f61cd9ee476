package bitrix24test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// portalAnswer is a decoded JSON answer of the fake.
type portalAnswer struct {
	status int
	body   map[string]any
	raw    string
}

// portalPost posts a form (or, with a nil form, nothing) to s at path, with extra headers.
func portalPost(t *testing.T, s *Server, method, path string, form url.Values, hdr http.Header) portalAnswer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.URL+path, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	hc := s.Client()
	res, err := hc.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	a := portalAnswer{status: res.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (a portalAnswer) code() string { c, _ := a.body["error"].(string); return c }

func TestAuthorizeIssuesCodes(t *testing.T) {
	s := NewServer(WithRateLimit(0, 1))
	defer s.Close()
	cfg := s.OAuthConfig()
	q, err := s.Authorize(s.URL+"/oauth/authorize/?client_id="+cfg.ClientID+"&state=abc", 3)
	require.NoError(t, err)
	assert.Len(t, q.Get("code"), 32)
	assert.Equal(t, "abc", q.Get("state"))
	assert.Equal(t, s.MemberID(), q.Get("member_id"))
	assert.Equal(t, strings.TrimPrefix(s.URL, "https://"), q.Get("domain"))
	assert.Equal(t, DefaultScope, q.Get("scope"))

	_, err = s.Authorize(s.URL+"/oauth/authorize/?client_id=unknown", 1)
	assert.Error(t, err)
	_, err = s.Authorize("https://elsewhere.test/oauth/authorize/?client_id="+cfg.ClientID, 1)
	assert.Error(t, err)
}

func TestCodeGrant(t *testing.T) {
	clock := newFakeClock()
	s := NewServer(WithRateLimit(0, 1), WithClock(clock.Now))
	defer s.Close()
	cfg := s.OAuthConfig()
	grant := func(code, secret string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "client_id": {cfg.ClientID},
			"client_secret": {secret}, "code": {code}}
	}
	code := s.AuthorizationCode(4)
	a := portalPost(t, s, http.MethodPost, "/oauth/token/", grant(code, cfg.ClientSecret), nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	for _, k := range []string{"access_token", "refresh_token", "client_endpoint", "domain", "expires_in",
		"member_id", "scope", "server_endpoint", "status"} {
		assert.Contains(t, a.body, k)
	}
	assert.NotContains(t, a.body, "user_id", "the documented answer has no user_id")
	assert.Equal(t, s.ServerEndpoint(), a.body["server_endpoint"])
	assert.Equal(t, 1, s.Exchanges())

	// The pair acts for user 4.
	info := portalPost(t, s, http.MethodPost, "/oauth/rest/app.info", url.Values{"auth": {a.body["access_token"].(string)}}, nil)
	require.Equal(t, http.StatusOK, info.status, info.raw)
	assert.Equal(t, "4", info.body["result"].(map[string]any)["user_id"])

	again := portalPost(t, s, http.MethodPost, "/oauth/token/", grant(code, cfg.ClientSecret), nil)
	assert.Equal(t, http.StatusBadRequest, again.status)
	assert.Equal(t, "invalid_grant", again.code(), "a code works once")

	wrong := portalPost(t, s, http.MethodPost, "/oauth/token/", grant(s.AuthorizationCode(1), "nope"), nil)
	assert.Equal(t, http.StatusUnauthorized, wrong.status)
	assert.Equal(t, "invalid_client", wrong.code())

	late := s.AuthorizationCode(1)
	clock.Advance(30 * time.Second)
	a = portalPost(t, s, http.MethodPost, "/oauth/token/", grant(late, cfg.ClientSecret), nil)
	assert.Equal(t, "expired_token", a.code(), "a code lives 30 s")

	// GET with the query string, as documented.
	a = portalPost(t, s, http.MethodGet, "/oauth/token/?"+grant(s.AuthorizationCode(1), cfg.ClientSecret).Encode(), nil, nil)
	assert.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, 2, s.Exchanges())
}

func TestAppInfoOnTheAuthorizationServer(t *testing.T) {
	s := NewServer(WithRateLimit(0, 1))
	defer s.Close()
	cfg := s.OAuthConfigForUser(6)
	a := portalPost(t, s, http.MethodPost, "/oauth/rest/app.info", url.Values{"auth": {cfg.Token.AccessToken}}, nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	res := a.body["result"].(map[string]any)
	assert.Equal(t, cfg.ClientID, res["client_id"])
	assert.Equal(t, "6", res["user_id"])
	install := res["install"].(map[string]any)
	assert.Equal(t, s.MemberID(), install["member_id"])
	assert.Equal(t, strings.TrimPrefix(s.URL, "https://"), install["domain"])
	assert.Equal(t, s.RESTURL(), install["client_endpoint"])
	assert.Equal(t, true, install["installed"])
	assert.Equal(t, 1, s.Requests("oauth/app.info"))

	bearer := portalPost(t, s, http.MethodGet, "/oauth/rest/app.info.json", nil, http.Header{"Authorization": {"Bearer " + cfg.Token.AccessToken}})
	assert.Equal(t, http.StatusOK, bearer.status, bearer.raw)

	other := s.InstallApp("user")
	a = portalPost(t, s, http.MethodPost, "/oauth/rest/app.info", url.Values{"auth": {other.Token.AccessToken}}, nil)
	assert.Equal(t, other.ClientID, a.body["result"].(map[string]any)["client_id"])

	for token, code := range map[string]string{"": "NO_AUTH_FOUND", "unknown": "invalid_token"} {
		a = portalPost(t, s, http.MethodPost, "/oauth/rest/app.info", url.Values{"auth": {token}}, nil)
		assert.Equal(t, http.StatusUnauthorized, a.status)
		assert.Equal(t, code, a.code())
	}
	require.True(t, s.ExpireToken(cfg.Token.AccessToken))
	a = portalPost(t, s, http.MethodPost, "/oauth/rest/app.info", url.Values{"auth": {cfg.Token.AccessToken}}, nil)
	assert.Equal(t, "expired_token", a.code())
	a = portalPost(t, s, http.MethodPost, "/oauth/rest/profile", url.Values{"auth": {other.Token.AccessToken}}, nil)
	assert.Equal(t, "ERROR_METHOD_NOT_FOUND", a.code(), "the authorization server has app.info only")
}

func TestUserAdmin(t *testing.T) {
	s := NewServer(WithRateLimit(0, 1))
	defer s.Close()
	for uid, want := range map[int]bool{1: true, 5: false} {
		a := portalPost(t, s, http.MethodPost, "/rest/user.admin", url.Values{"auth": {s.OAuthConfigForUser(uid).Token.AccessToken}}, nil)
		require.Equal(t, http.StatusOK, a.status, a.raw)
		assert.Equal(t, want, a.body["result"], "user %d", uid)
	}
}

// eventSink records what SendEvent posts.
type eventSink struct {
	mu    sync.Mutex
	forms []url.Values
	ctype []string
}

func (e *eventSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.forms = append(e.forms, f)
	e.ctype = append(e.ctype, r.Header.Get("Content-Type"))
	e.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func TestEvents(t *testing.T) {
	s := NewServer(WithRateLimit(0, 1))
	defer s.Close()
	sink := &eventSink{}
	app := httptest.NewServer(sink)
	defer app.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	ctx := context.Background()

	for _, send := range []func(context.Context, *http.Client, string) (int, error){s.SendInstall, s.SendUpdate, s.SendUninstall} {
		status, err := send(ctx, hc, app.URL)
		require.NoError(t, err)
		assert.Equal(t, http.StatusAccepted, status)
	}
	require.Len(t, sink.forms, 3)
	install, update, uninstall := sink.forms[0], sink.forms[1], sink.forms[2]
	assert.Equal(t, "application/x-www-form-urlencoded", sink.ctype[0])

	assert.Equal(t, "ONAPPINSTALL", install.Get("event"))
	assert.Equal(t, "Y", install.Get("data[INSTALLED]"))
	assert.NotEmpty(t, install.Get("auth[refresh_token]"))
	assert.Equal(t, s.ApplicationToken(), install.Get("auth[application_token]"))
	assert.Equal(t, s.MemberID(), install.Get("auth[member_id]"))
	assert.Equal(t, "1", install.Get("auth[user_id]"))
	assert.Equal(t, DefaultScope, install.Get("auth[scope]"))
	// The install pair works.
	a := portalPost(t, s, http.MethodPost, "/rest/profile", url.Values{"auth": {install.Get("auth[access_token]")}}, nil)
	assert.Equal(t, http.StatusOK, a.status, a.raw)

	assert.Equal(t, "1", update.Get("data[PREVIOUS_VERSION]"))
	assert.NotEmpty(t, update.Get("auth[refresh_token]"))

	assert.Equal(t, "0", uninstall.Get("data[CLEAN]"))
	for _, k := range []string{"auth[access_token]", "auth[refresh_token]", "auth[expires]", "auth[user_id]"} {
		assert.False(t, uninstall.Has(k), k)
	}
	assert.Equal(t, s.ApplicationToken(), uninstall.Get("auth[application_token]"))

	other := s.EventForm("onCrmLeadAdd")
	assert.Equal(t, "ONCRMLEADADD", other.Get("event"))
	assert.False(t, other.Has("auth[refresh_token]"))

	old := s.ApplicationToken()
	rotated := s.RotateApplicationToken()
	assert.NotEqual(t, old, rotated)
	assert.Equal(t, rotated, s.EventForm("ONAPPUPDATE").Get("auth[application_token]"))
}

func TestAppPageRequest(t *testing.T) {
	s := NewServer(WithRateLimit(0, 1))
	defer s.Close()
	ctx := context.Background()
	req, err := s.AppPageRequest(ctx, "https://app.example.test/page?tab=1", PageOptions{UserID: 8, Lang: "de",
		PlacementOptions: map[string]any{"URI": "/crm/deal/", "Q": `a"b`}})
	require.NoError(t, err)
	q := req.URL.Query()
	assert.Equal(t, "1", q.Get("tab"), "the handler's own query is kept, DOMAIN and the rest appended with &")
	assert.Equal(t, strings.TrimPrefix(s.URL, "https://"), q.Get("DOMAIN"))
	assert.Equal(t, "1", q.Get("PROTOCOL"))
	assert.Equal(t, "de", q.Get("LANG"))
	assert.Len(t, q.Get("APP_SID"), 32)
	raw, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	form, err := url.ParseQuery(string(raw))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(raw), "AUTH_ID="), "the form's order")
	assert.Equal(t, "3600", form.Get("AUTH_EXPIRES"))
	assert.Equal(t, s.ServerEndpoint(), form.Get("SERVER_ENDPOINT"))
	assert.Equal(t, s.ApplicationToken(), form.Get("APPLICATION_TOKEN"))
	assert.Equal(t, DefaultScope, form.Get("APPLICATION_SCOPE"))
	assert.Equal(t, s.MemberID(), form.Get("member_id"))
	assert.Equal(t, "L", form.Get("status"))
	assert.Equal(t, "DEFAULT", form.Get("PLACEMENT"))
	assert.Equal(t, `{"Q":"a\u0022b","URI":"\/crm\/deal\/"}`, form.Get("PLACEMENT_OPTIONS"), "PHP's escapes")

	// The tokens act for user 8.
	a := portalPost(t, s, http.MethodPost, "/oauth/rest/app.info", url.Values{"auth": {form.Get("AUTH_ID")}}, nil)
	assert.Equal(t, "8", a.body["result"].(map[string]any)["user_id"])

	req, err = s.AppPageRequest(ctx, "https://app.example.test/page", PageOptions{OldPortal: true, NoAccess: true})
	require.NoError(t, err)
	raw, _ = io.ReadAll(req.Body)
	form, _ = url.ParseQuery(string(raw))
	for _, k := range []string{"SERVER_ENDPOINT", "APPLICATION_TOKEN", "APPLICATION_SCOPE", "PLACEMENT_OPTIONS"} {
		assert.False(t, form.Has(k), k)
	}
	assert.True(t, form.Has("AUTH_ID"))
	assert.Empty(t, form.Get("AUTH_ID"))
	assert.Empty(t, form.Get("REFRESH_ID"))
}

func TestUserFieldRequest(t *testing.T) {
	s := NewServer(WithRateLimit(0, 1))
	defer s.Close()
	options := func(o UserFieldOptions) map[string]any {
		req, err := s.UserFieldRequest(context.Background(), "https://app.example.test/field", o)
		require.NoError(t, err)
		raw, _ := io.ReadAll(req.Body)
		form, _ := url.ParseQuery(string(raw))
		require.Equal(t, "USERFIELD_TYPE", form.Get("PLACEMENT"))
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(form.Get("PLACEMENT_OPTIONS")), &m))
		return m
	}
	m := options(UserFieldOptions{})
	assert.Equal(t, "view", m["MODE"])
	assert.Nil(t, m["VALUE"])
	assert.Equal(t, "N", m["MULTIPLE"])
	assert.Equal(t, float64(0), m["ENTITY_VALUE_ID"])
	assert.Contains(t, m, "ENTITY_DATA", "CRM entities get ENTITY_DATA")

	m = options(UserFieldOptions{Mode: "edit", Multiple: true})
	assert.Equal(t, []any{nil}, m["VALUE"], "an empty multiple field is [null]")
	m = options(UserFieldOptions{Multiple: true, Values: []string{"a", "b"}, EntityValueID: 5, EntityValueIDString: true, EntityID: "BLOG_POST"})
	assert.Equal(t, []any{"a", "b"}, m["VALUE"])
	assert.Equal(t, "5", m["ENTITY_VALUE_ID"])
	assert.NotContains(t, m, "ENTITY_DATA")
	m = options(UserFieldOptions{Values: []string{"x", "y"}, XMLID: "X1", Mandatory: true})
	assert.Equal(t, "x", m["VALUE"], "a single field sends its first value")
	assert.Equal(t, "X1", m["XML_ID"])
	assert.Equal(t, "Y", m["MANDATORY"])
}
