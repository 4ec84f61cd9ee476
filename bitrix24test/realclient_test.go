package bitrix24test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRepeatedSlashes: the JS SDK posts to client_endpoint + "/" + method, i.e.
// /rest//profile; the portal answers it as /rest/profile (protocol §13.2), for OAuth and
// for webhooks.
func TestRepeatedSlashes(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	body := `{"auth":"` + s.Token().AccessToken + `"}`
	for _, path := range []string{"/rest//profile", "//rest/profile", "/rest///profile.json"} {
		r := send(t, s, http.MethodPost, s.URL+path, "application/json", body, nil)
		res := requireResult(t, r).(map[string]any)
		assert.Equal(t, "1", res["ID"], path)
	}
	hook := strings.TrimSuffix(s.WebhookURL(), "/")
	hook = strings.Replace(hook, "/rest/", "/rest//", 1)
	requireResult(t, send(t, s, http.MethodPost, hook+"//server.time", "application/json", `{}`, nil))
	// A path that is not REST stays unknown.
	r := send(t, s, http.MethodPost, s.URL+"/rest//no.such.method", "application/json", body, nil)
	requireErr(t, r, 404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
}

// TestTokenURLFromServerEndpoint: a client that derives the token endpoint from the
// fake's server_endpoint by the documented rule (minus "rest/", plus "oauth/token/")
// can refresh there.
func TestTokenURLFromServerEndpoint(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	derived := strings.Replace(s.ServerEndpoint(), "rest/", "", 1) + "oauth/token/"
	require.NotEqual(t, s.TokenURL(), derived)
	cfg := s.OAuthConfig()
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {cfg.ClientID},
		"client_secret": {cfg.ClientSecret}, "refresh_token": {cfg.Token.RefreshToken}}
	r := send(t, s, http.MethodPost, derived, "application/x-www-form-urlencoded", form.Encode(), nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.raw)
	require.NotEmpty(t, r.body["access_token"])
	assert.Equal(t, s.ServerEndpoint(), r.body["server_endpoint"])
	// The new access token works on the portal.
	requireResult(t, callJSONAs(t, s, r.body["access_token"].(string), "profile", nil))
}

// TestAppInfoOnPortal: app.info is a _global method of the portal's /rest/ (§4.1), alone
// and in a halting batch with profile, as the JS SDK's helper sends it; a webhook has no
// application, and gets its SCOPE and the LICENSE (CRestProvider::appInfo's password-id
// branch; b24phpsdk's integration test reads LICENSE through a webhook).
func TestAppInfoOnPortal(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	info := requireResult(t, callJSON(t, s, "app.info", nil)).(map[string]any)
	assert.Equal(t, s.OAuthConfig().ClientID, info["CODE"])
	assert.Equal(t, true, info["INSTALLED"])
	r := callJSON(t, s, "batch", map[string]any{"halt": 1, "cmd": map[string]any{"app": "app.info", "profile": "profile"}})
	res := requireResult(t, r).(map[string]any)
	assert.Equal(t, []any{}, res["result_error"])
	inner := res["result"].(map[string]any)
	assert.Contains(t, inner, "app")
	assert.Contains(t, inner, "profile")
	hook := requireResult(t, hookJSON(t, s, "app.info", nil)).(map[string]any)
	assert.Equal(t, []string{"LICENSE", "SCOPE"}, slices.Sorted(maps.Keys(hook)))
	assert.IsType(t, "", hook["LICENSE"])
	assert.IsType(t, []any{}, hook["SCOPE"])
	b, _ := json.Marshal(info)
	assert.NotContains(t, string(b), s.OAuthConfig().ClientSecret)
}
