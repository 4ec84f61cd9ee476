package bitrix24test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireTool finds a program the test needs: without it the test skips, except in CI
// (CI=true), where a missing tool is a failure.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, name+" not found: "+err.Error())
	}
	return path
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// installJSSDK copies testdata/jssdk into a temporary directory and installs the pinned
// @bitrix24/b24jssdk there with npm ci (package-lock.json), so node_modules never lands
// in the repository.
func installJSSDK(t *testing.T) string {
	t.Helper()
	requireTool(t, "node")
	npm := requireTool(t, "npm")
	dir := t.TempDir()
	for _, name := range []string{"package.json", "package-lock.json", "drive.mjs"} {
		data, err := os.ReadFile(filepath.Join("testdata", "jssdk", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_cache="+filepath.Join(dir, ".npm"))
	if out, err := cmd.CombinedOutput(); err != nil {
		skipOrFail(t, "npm ci failed: "+err.Error()+"\n"+string(out))
	}
	return dir
}

// TestJSSDKDrivesFake: the official JS SDK, a real client we did not write, works
// against the fake through a webhook (a call, a batch, a list walked by its cursor) and
// through OAuth with an expired pair: it refreshes at the token URL it derives from
// server_endpoint, posts to client_endpoint + "/" + method (a double slash), sets and
// reads a user option, registers and lists a field type, and batches app.info with
// profile on the portal.
func TestJSSDKDrivesFake(t *testing.T) {
	dir := installJSSDK(t)
	node := requireTool(t, "node")

	s := newSrv(t, WithScope("crm,placement,user"), WithWebhookScope("crm,placement,user"))
	ids := s.SeedCRMItems(1032, 120)
	cfg := s.OAuthConfig()
	s.ExpireAccessToken()
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o600))
	conf, err := json.Marshal(map[string]any{
		"webhook": s.WebhookURL(), "entityTypeId": 1032,
		"clientId": cfg.ClientID, "clientSecret": cfg.ClientSecret,
		"accessToken": cfg.Token.AccessToken, "refreshToken": cfg.Token.RefreshToken,
		"memberId": s.MemberID(), "scope": cfg.Token.Scope, "domain": strings.TrimPrefix(s.URL, "https://"),
		"clientEndpoint": s.RESTURL(), "serverEndpoint": s.ServerEndpoint(),
		"handler": "https://app.example.com/uf/jsrating",
	})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "drive.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+caFile, "B24_CONFIG="+string(conf))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr: %s", stderr.String())

	var out struct {
		HookTime     string
		HookBatch    map[string]any
		ListIDs      []int
		Profile      map[string]any
		Refreshed    []string
		OptionSet    bool
		OptionGet    string
		FieldTypeAdd bool
		FieldTypes   []map[string]any
		AppBatch     map[string]any
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &out), "stdout: %s\nstderr: %s", stdout.String(), stderr.String())

	assert.NotEmpty(t, out.HookTime)
	assert.Contains(t, out.HookBatch, "time")
	assert.Contains(t, out.HookBatch, "me")
	assert.Equal(t, ids, out.ListIDs, "the SDK walks every page of the list")

	assert.Equal(t, "1", out.Profile["ID"])
	require.Len(t, out.Refreshed, 1, "one refresh")
	assert.NotEqual(t, cfg.Token.AccessToken, out.Refreshed[0])
	last, ok := s.LastRequest("oauth/token")
	require.True(t, ok)
	derived := strings.Replace(strings.TrimPrefix(s.ServerEndpoint(), s.URL), "rest/", "", 1) + "oauth/token/"
	assert.Equal(t, derived, last.Path, "the token URL derived from server_endpoint")

	assert.True(t, out.OptionSet)
	assert.Equal(t, "dark", out.OptionGet)
	assert.Equal(t, "dark", s.UserOptions(cfg.ClientID, 1)["theme"])

	assert.True(t, out.FieldTypeAdd)
	require.NotEmpty(t, out.FieldTypes)
	assert.Equal(t, "jsrating", out.FieldTypes[len(out.FieldTypes)-1]["USER_TYPE_ID"])
	var names []string
	for _, r := range s.UserFieldTypes(cfg.ClientID) {
		names = append(names, r.UserTypeID)
	}
	assert.Contains(t, names, "jsrating")

	assert.Contains(t, out.AppBatch, "app")
	assert.Contains(t, out.AppBatch, "profile")
}
