package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Partial credentials name what is missing instead of running against the fake (or
// failing on a Go field name).
func TestConnectNamesMissingVariables(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		missing []string
	}{
		{"portal only", map[string]string{"BITRIX24_PORTAL_URL": "https://x.bitrix24.com"},
			[]string{"BITRIX24_CLIENT_ID", "BITRIX24_CLIENT_SECRET", "BITRIX24_ACCESS_TOKEN", "BITRIX24_REFRESH_TOKEN"}},
		{"webhook only", map[string]string{"BITRIX24_WEBHOOK_URL": "https://x.bitrix24.com/rest/1/abc/"}, realPortal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := connect(func(k string) string { return tc.env[k] })
			require.Error(t, err)
			for _, name := range tc.missing {
				assert.Contains(t, err.Error(), name)
			}
			assert.Contains(t, err.Error(), "built-in fake")
		})
	}
}

func TestConnectUsesTheFakeWithoutVariables(t *testing.T) {
	p, err := connect(func(string) string { return "" })
	require.NoError(t, err)
	defer p.close()
	assert.NotEmpty(t, p.oauth.PortalURL)
}

func TestConnectUsesARealPortalWithEveryVariable(t *testing.T) {
	env := map[string]string{}
	for _, name := range realPortal {
		env[name] = "v"
	}
	env["BITRIX24_PORTAL_URL"] = "https://x.bitrix24.com"
	p, err := connect(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "https://x.bitrix24.com", p.oauth.PortalURL)
}
