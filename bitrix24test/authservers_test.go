package bitrix24test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// postTo posts form to an absolute URL through s's client.
func postTo(t *testing.T, s *Server, target string, form url.Values) portalAnswer {
	t.Helper()
	res, err := s.Client().Post(target, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	a := portalAnswer{status: res.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func TestSecondAuthServerKnowsItsOwnPairs(t *testing.T) {
	s := newSrv(t)
	first := s.Token()
	second := s.AddAuthServer()
	assert.Equal(t, second.URL+"/rest/", second.ServerEndpoint())
	assert.Equal(t, second.URL+"/oauth/token/", second.TokenURL())
	assert.NotEqual(t, s.ServerEndpoint(), second.ServerEndpoint())

	s.UseAuthServer(second)
	cfg := s.OAuthConfigForUser(3)
	assert.Equal(t, second.ServerEndpoint(), cfg.Token.ServerEndpoint)
	form := s.EventForm("ONAPPINSTALL")
	assert.Equal(t, second.ServerEndpoint(), form.Get("auth[server_endpoint]"))
	page, err := s.AppPageRequest(context.Background(), "https://app.example.test/", PageOptions{})
	require.NoError(t, err)
	require.NoError(t, page.ParseForm())
	assert.Equal(t, second.ServerEndpoint(), page.PostForm.Get("SERVER_ENDPOINT"))

	// app.info: each server answers for its own tokens.
	a := postTo(t, s, second.ServerEndpoint()+"app.info", url.Values{"auth": {cfg.Token.AccessToken}})
	require.Equal(t, http.StatusOK, a.status, a.raw)
	a = postTo(t, s, s.ServerEndpoint()+"app.info", url.Values{"auth": {cfg.Token.AccessToken}})
	assert.Equal(t, "invalid_token", a.code())
	a = postTo(t, s, second.ServerEndpoint()+"app.info", url.Values{"auth": {first.AccessToken}})
	assert.Equal(t, "invalid_token", a.code())

	// The token endpoint: the other server's refresh token is refused; the answer names
	// the server, and the new pair stays with it.
	refresh := func(target, rt string) portalAnswer {
		return postTo(t, s, target, url.Values{"grant_type": {"refresh_token"}, "client_id": {cfg.ClientID},
			"client_secret": {cfg.ClientSecret}, "refresh_token": {rt}})
	}
	a = refresh(s.TokenURL(), cfg.Token.RefreshToken)
	assert.Equal(t, "invalid_grant", a.code())
	a = refresh(second.TokenURL(), cfg.Token.RefreshToken)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, second.ServerEndpoint(), a.body["server_endpoint"])
	assert.Equal(t, strings.TrimPrefix(second.URL, "https://"), a.body["domain"])
	a = refresh(second.TokenURL(), a.body["refresh_token"].(string))
	assert.Equal(t, http.StatusOK, a.status, "the refreshed pair belongs to the second server")

	// Pairs issued before the move stay with the portal's own server.
	a = refresh(s.TokenURL(), first.RefreshToken)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, s.ServerEndpoint(), a.body["server_endpoint"])
}

func TestUninstallRevokesTheAppsTokens(t *testing.T) {
	s := newSrv(t)
	cfg := s.OAuthConfig()
	other := s.InstallApp("user")
	s.Uninstall()
	a := postTo(t, s, s.ServerEndpoint()+"app.info", url.Values{"auth": {cfg.Token.AccessToken}})
	assert.Equal(t, "invalid_token", a.code())
	a = postTo(t, s, s.RESTURL()+"user.admin", url.Values{"auth": {cfg.Token.AccessToken}})
	assert.Equal(t, "invalid_token", a.code())
	a = postTo(t, s, s.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "client_id": {cfg.ClientID},
		"client_secret": {cfg.ClientSecret}, "refresh_token": {cfg.Token.RefreshToken}})
	assert.Equal(t, "invalid_grant", a.code())
	a = postTo(t, s, s.RESTURL()+"user.admin", url.Values{"auth": {other.Token.AccessToken}})
	assert.Equal(t, http.StatusOK, a.status, "other applications stay installed")

	// ONAPPUNINSTALL carries no token; a later install brings a working pair.
	un := s.EventForm("ONAPPUNINSTALL")
	assert.Empty(t, un.Get("auth[access_token]"))
	in := s.EventForm("ONAPPINSTALL")
	a = postTo(t, s, s.RESTURL()+"user.admin", url.Values{"auth": {in.Get("auth[access_token]")}})
	assert.Equal(t, http.StatusOK, a.status)
}

func TestForgeEventCarriesAUsersPair(t *testing.T) {
	s := newSrv(t)
	f := s.ForgeEvent("ONAPPINSTALL", 9)
	assert.Equal(t, "9", f.Get("auth[user_id]"))
	assert.Equal(t, s.ApplicationToken(), f.Get("auth[application_token]"))
	require.NotEmpty(t, f.Get("auth[refresh_token]"))
	a := postTo(t, s, s.RESTURL()+"user.admin", url.Values{"auth": {f.Get("auth[access_token]")}})
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, false, a.body["result"], "a genuine token of a user who is no administrator")
	assert.Empty(t, s.ForgeEvent("ONCRMLEADADD", 9).Get("auth[refresh_token]"))
	assert.Empty(t, s.ForgeEvent("ONAPPUNINSTALL", 9).Get("auth[access_token]"))
}
