package bitrix24_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

func TestWebhookPutsCodeInPathAndNothingInBody(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	var rec recorder
	mt.RegisterResponder("POST", testWebhook+"user.option.set",
		rec.wrap(t, jsonResponder(200, fixture(t, "useroption_set_ok.json"))))

	require.NoError(t, c.UserOption.Set(context.Background(), map[string]any{"theme": "dark"}))
	require.Equal(t, 1, rec.count())
	assert.Equal(t, map[string]any{"options": map[string]any{"theme": "dark"}}, rec.body(0))
}

func TestOAuthSendsAuthInBody(t *testing.T) {
	t.Parallel()
	c, mt := newOAuthClient(t, testOAuthConfig())
	var rec recorder
	mt.RegisterResponder("POST", testPortal+"/rest/user.option.set",
		rec.wrap(t, func(req *http.Request) (*http.Response, error) {
			assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
			assert.Empty(t, req.URL.RawQuery, "no credentials in the URL")
			assert.Empty(t, req.Header.Get("Authorization"))
			return jsonResponder(200, fixture(t, "useroption_set_ok.json"))(req)
		}))

	require.NoError(t, c.UserOption.Set(context.Background(), map[string]any{"n": 1, "nested": map[string]any{"a": true}}))
	assert.Equal(t, map[string]any{
		"options": map[string]any{"n": float64(1), "nested": map[string]any{"a": true}},
		"auth":    testAccess,
	}, rec.body(0))
}

func TestCallAuthWinsOverParamNamedAuth(t *testing.T) {
	t.Parallel()
	c, mt := newOAuthClient(t, testOAuthConfig())
	var rec recorder
	mt.RegisterResponder("POST", testPortal+"/rest/server.time", rec.wrap(t, jsonResponder(200, `{"result":"2026-11-23T10:00:00+00:00"}`)))
	var now string
	require.NoError(t, c.Call(context.Background(), "server.time", map[string]string{"auth": "user-supplied"}, &now))
	assert.Equal(t, "2026-11-23T10:00:00+00:00", now)
	// PHP's json_decode keeps the last duplicate key: ours must come last.
	assert.True(t, strings.HasSuffix(rec.raw[0], `"auth":"`+testAccess+`"}`), rec.raw[0])
}

func TestUserOptionGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		fixture string
		found   bool
		want    any
	}{
		{"useroption_get_value.json", true, "value"},
		{"useroption_get_null.json", false, ""},
		{"useroption_get_object.json", true, map[string]any{"theme": "dark", "size": float64(12), "tags": []any{"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			c, mt := newOAuthClient(t, testOAuthConfig())
			var rec recorder
			mt.RegisterResponder("POST", testPortal+"/rest/user.option.get", rec.wrap(t, jsonResponder(200, fixture(t, tt.fixture))))
			dst := reflect.New(reflect.TypeOf(tt.want))
			found, err := c.UserOption.Get(ctx, "theme", dst.Interface())
			require.NoError(t, err)
			assert.Equal(t, tt.found, found)
			if tt.found {
				assert.Equal(t, tt.want, dst.Elem().Interface())
			}
			assert.Equal(t, "theme", rec.body(0)["option"])
		})
	}
}

func TestUserOptionGetAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, mt := newOAuthClient(t, testOAuthConfig())
	var rec recorder
	mt.RegisterResponder("POST", testPortal+"/rest/user.option.get", rec.wrap(t,
		jsonResponder(200, fixture(t, "useroption_get_all.json")).Then(jsonResponder(200, fixture(t, "useroption_get_all_empty.json")))))

	all, err := c.UserOption.GetAll(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]json.RawMessage{"data": json.RawMessage(`"value"`), "data2": json.RawMessage(`"value2"`)}, all)
	_, hasOption := rec.body(0)["option"]
	assert.False(t, hasOption, "GetAll sends no option key")

	empty, err := c.UserOption.GetAll(ctx)
	require.NoError(t, err)
	assert.NotNil(t, empty)
	assert.Empty(t, empty)
}

func TestUserFieldTypeBodies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, mt := newOAuthClient(t, testOAuthConfig())
	recs := map[string]*recorder{}
	for _, m := range []string{"add", "update", "delete"} {
		recs[m] = &recorder{}
		mt.RegisterResponder("POST", testPortal+"/rest/userfieldtype."+m, recs[m].wrap(t, jsonResponder(200, fixture(t, "userfieldtype_ok.json"))))
	}
	ft := bitrix24.UserFieldType{UserTypeID: "rating", Handler: "https://app.example.com/uf", Title: "Rating", Description: "Stars"}
	require.NoError(t, c.UserFieldType.Add(ctx, ft))
	assert.Equal(t, map[string]any{"USER_TYPE_ID": "rating", "HANDLER": "https://app.example.com/uf", "TITLE": "Rating",
		"DESCRIPTION": "Stars", "auth": testAccess}, recs["add"].body(0))

	ft.Height = 120
	require.NoError(t, c.UserFieldType.Add(ctx, ft))
	assert.Equal(t, map[string]any{"height": float64(120)}, recs["add"].body(1)["OPTIONS"])

	require.NoError(t, c.UserFieldType.Update(ctx, ft))
	assert.Equal(t, map[string]any{"USER_TYPE_ID": "rating", "HANDLER": "https://app.example.com/uf", "TITLE": "Rating",
		"DESCRIPTION": "Stars", "OPTIONS": map[string]any{"height": float64(120)}, "auth": testAccess}, recs["update"].body(0))

	require.NoError(t, c.UserFieldType.Delete(ctx, "rating"))
	assert.Equal(t, map[string]any{"USER_TYPE_ID": "rating", "auth": testAccess}, recs["delete"].body(0))
}

func TestUserFieldTypeListFollowsPages(t *testing.T) {
	t.Parallel()
	c, mt := newOAuthClient(t, testOAuthConfig())
	var rec recorder
	mt.RegisterResponder("POST", testPortal+"/rest/userfieldtype.list", rec.wrap(t,
		jsonResponder(200, fixture(t, "userfieldtype_list_page1.json")).
			Then(jsonResponder(200, fixture(t, "userfieldtype_list_page2.json"))).
			Then(jsonResponder(200, fixture(t, "userfieldtype_list_page3.json")))))

	types, err := c.UserFieldType.List(context.Background())
	require.NoError(t, err)
	require.Len(t, types, 120)
	assert.Equal(t, bitrix24.UserFieldType{UserTypeID: "type000", Handler: "https://app.example.com/h0", Title: "Type 0"}, types[0])
	assert.Equal(t, "d118", types[118].Description)
	assert.Empty(t, types[119].Description, "DESCRIPTION null")
	require.Equal(t, 3, rec.count())
	for i, start := range []float64{0, 50, 100} {
		assert.Equal(t, start, rec.body(i)["start"])
	}
}

func TestUserFieldTypeListEmptyAndOne(t *testing.T) {
	t.Parallel()
	c, mt := newOAuthClient(t, testOAuthConfig())
	mt.RegisterResponder("POST", testPortal+"/rest/userfieldtype.list",
		jsonResponder(200, fixture(t, "userfieldtype_list_empty.json")).Then(jsonResponder(200, fixture(t, "userfieldtype_list_one.json"))))
	types, err := c.UserFieldType.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, types)
	types, err = c.UserFieldType.List(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []bitrix24.UserFieldType{{UserTypeID: "test_user_type", Handler: "http://test.com/test.php", Title: "test title", Description: "test desc"}}, types)
}

func TestListStopsWhenPagingDoesNotAdvance(t *testing.T) {
	t.Parallel()
	c, mt := newOAuthClient(t, testOAuthConfig())
	mt.RegisterResponder("POST", testPortal+"/rest/userfieldtype.list",
		jsonResponder(200, `{"result":[{"USER_TYPE_ID":"a","HANDLER":"https://x.example/","TITLE":"a"}],"total":5,"next":0}`))
	_, err := c.UserFieldType.List(context.Background())
	require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse)
}

// sentinels lists every sentinel of the contract by the name the fixtures use.
var sentinels = map[string]error{
	"ErrArgument": bitrix24.ErrArgument, "ErrNotFound": bitrix24.ErrNotFound, "ErrCore": bitrix24.ErrCore,
	"ErrWrongHandlerURL": bitrix24.ErrWrongHandlerURL, "ErrMethodNotFound": bitrix24.ErrMethodNotFound,
	"ErrQueryLimitExceeded": bitrix24.ErrQueryLimitExceeded, "ErrOperationTimeLimit": bitrix24.ErrOperationTimeLimit,
	"ErrOverloadLimit": bitrix24.ErrOverloadLimit, "ErrNoAuthFound": bitrix24.ErrNoAuthFound,
	"ErrExpiredToken": bitrix24.ErrExpiredToken, "ErrInvalidToken": bitrix24.ErrInvalidToken,
	"ErrInvalidCredentials": bitrix24.ErrInvalidCredentials, "ErrInsufficientScope": bitrix24.ErrInsufficientScope,
	"ErrAccessDenied": bitrix24.ErrAccessDenied, "ErrWrongAuthType": bitrix24.ErrWrongAuthType,
	"ErrUserAccess": bitrix24.ErrUserAccess, "ErrHTTPSRequired": bitrix24.ErrHTTPSRequired,
	"ErrPortalDeleted": bitrix24.ErrPortalDeleted, "ErrInternal": bitrix24.ErrInternal,
	"ErrBatchMethodNotAllowed": bitrix24.ErrBatchMethodNotAllowed, "ErrBatchLengthExceeded": bitrix24.ErrBatchLengthExceeded,
	"ErrManifestNotAvailable": bitrix24.ErrManifestNotAvailable, "ErrPaymentRequired": bitrix24.ErrPaymentRequired,
	"ErrInvalidGrant": bitrix24.ErrInvalidGrant, "ErrInvalidClient": bitrix24.ErrInvalidClient,
}

func TestEverySentinelFromItsCode(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Status   int             `json:"status"`
		Sentinel string          `json:"sentinel"`
		Body     json.RawMessage `json:"body"`
	}
	data, err := os.ReadFile(filepath.Join("testdata", "errors.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &cases))
	covered := map[string]bool{}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%02d_%s", i, tc.Sentinel), func(t *testing.T) {
			t.Parallel()
			// A method that is safe to repeat would retry 5xx and the limit: use an add.
			c, mt := newWebhookClient(t, bitrix24.WithRetry(0, 0, 0))
			mt.RegisterResponder("POST", testWebhook+"crm.item.add", jsonResponder(tc.Status, string(tc.Body)))
			err := c.Call(context.Background(), "crm.item.add", nil, nil)
			var apiErr *bitrix24.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tc.Status, apiErr.StatusCode)
			assert.Equal(t, "crm.item.add", apiErr.Method)
			for name, s := range sentinels {
				assert.Equal(t, name == tc.Sentinel, errors.Is(err, s), "errors.Is(%s) for %s", name, tc.Body)
			}
		})
		covered[tc.Sentinel] = true
	}
	for name := range sentinels {
		assert.True(t, covered[name], "no fixture for %s", name)
	}
}

func TestCodesMatchCaseInsensitively(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"error_not_found", "Error_Not_Found", "ERROR_NOT_FOUND"} {
		assert.ErrorIs(t, &bitrix24.APIError{Code: code}, bitrix24.ErrNotFound)
	}
	assert.ErrorIs(t, &bitrix24.APIError{Code: "EXPIRED_TOKEN"}, bitrix24.ErrExpiredToken)
	assert.True(t, bitrix24.IsCode(fmt.Errorf("wrapped: %w", &bitrix24.APIError{Code: "WRONG_LICENSE"}), "wrong_license"))
	assert.False(t, bitrix24.IsCode(errors.New("plain"), "WRONG_LICENSE"))
}

func TestErrorsForWebhookOnlyMethodsTellToUseOAuth(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	mt.RegisterResponder("POST", testWebhook+"user.option.set", jsonResponder(403,
		`{"error":"ACCESS_DENIED","error_description":"Access denied! Application context required"}`))
	mt.RegisterResponder("POST", testWebhook+"userfieldtype.list", jsonResponder(403,
		`{"error":"WRONG_AUTH_TYPE","error_description":"Current authorization type is denied for this method Application context required"}`))

	err := c.UserOption.Set(context.Background(), map[string]any{"a": 1})
	require.ErrorIs(t, err, bitrix24.ErrAccessDenied)
	assert.Contains(t, err.Error(), "NewOAuthClient")
	_, err = c.UserFieldType.List(context.Background())
	require.ErrorIs(t, err, bitrix24.ErrWrongAuthType)
	assert.Contains(t, err.Error(), "installed application")
	requireNoSecret(t, err.Error())
}

func TestErrorWithStatus200(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	mt.RegisterResponder("POST", testWebhook+"crm.item.add", jsonResponder(200, `{"error":"ERROR_CORE","error_description":"x"}`))
	err := c.Call(context.Background(), "crm.item.add", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrCore)
}

func TestValidationSendsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, mt := newOAuthClient(t, testOAuthConfig())
	good := bitrix24.UserFieldType{UserTypeID: "rating", Handler: "https://app.example.com/h", Title: "Rating"}
	with := func(f func(*bitrix24.UserFieldType)) bitrix24.UserFieldType { t := good; f(&t); return t }
	bad := map[string]func() error{
		"set nil":       func() error { return c.UserOption.Set(ctx, nil) },
		"set empty":     func() error { return c.UserOption.Set(ctx, map[string]any{}) },
		"set empty key": func() error { return c.UserOption.Set(ctx, map[string]any{"": 1}) },
		"get empty key": func() error { _, err := c.UserOption.Get(ctx, "", nil); return err },
		"add no id": func() error {
			return c.UserFieldType.Add(ctx, with(func(t *bitrix24.UserFieldType) { t.UserTypeID = "" }))
		},
		"add upper id": func() error {
			return c.UserFieldType.Add(ctx, with(func(t *bitrix24.UserFieldType) { t.UserTypeID = "Rating" }))
		},
		"add id underscore": func() error {
			return c.UserFieldType.Add(ctx, with(func(t *bitrix24.UserFieldType) { t.UserTypeID = "my_type" }))
		},
		"add no handler": func() error {
			return c.UserFieldType.Add(ctx, with(func(t *bitrix24.UserFieldType) { t.Handler = "" }))
		},
		"add relative handler": func() error {
			return c.UserFieldType.Add(ctx, with(func(t *bitrix24.UserFieldType) { t.Handler = "/h" }))
		},
		"add ftp handler": func() error {
			return c.UserFieldType.Add(ctx, with(func(t *bitrix24.UserFieldType) { t.Handler = "ftp://x.example/h" }))
		},
		"add hostless handler": func() error {
			return c.UserFieldType.Add(ctx, with(func(t *bitrix24.UserFieldType) { t.Handler = "https:///h" }))
		},
		"add no title":        func() error { return c.UserFieldType.Add(ctx, with(func(t *bitrix24.UserFieldType) { t.Title = "" })) },
		"add negative height": func() error { return c.UserFieldType.Add(ctx, with(func(t *bitrix24.UserFieldType) { t.Height = -1 })) },
		"update no title": func() error {
			return c.UserFieldType.Update(ctx, with(func(t *bitrix24.UserFieldType) { t.Title = " " }))
		},
		"update no handler": func() error {
			return c.UserFieldType.Update(ctx, with(func(t *bitrix24.UserFieldType) { t.Handler = "" }))
		},
		"update bad id": func() error {
			return c.UserFieldType.Update(ctx, with(func(t *bitrix24.UserFieldType) { t.UserTypeID = "a-b" }))
		},
		"delete empty":        func() error { return c.UserFieldType.Delete(ctx, "") },
		"delete bad id":       func() error { return c.UserFieldType.Delete(ctx, "Bad") },
		"call empty method":   func() error { return c.Call(ctx, "", nil, nil) },
		"call path in method": func() error { return c.Call(ctx, "../admin", nil, nil) },
		"call list params":    func() error { return c.Call(ctx, "server.time", []int{1}, nil) },
		"call scalar params":  func() error { return c.Call(ctx, "server.time", "x", nil) },
		"call bad raw params": func() error { return c.Call(ctx, "server.time", json.RawMessage(`{"a":`), nil) },
		"call unencodable":    func() error { return c.Call(ctx, "server.time", map[string]any{"f": func() {}}, nil) },
		"batch none":          func() error { _, err := c.Batch(ctx, false); return err },
		"batch empty key":     func() error { _, err := c.Batch(ctx, false, bitrix24.BatchCommand{Method: "server.time"}); return err },
		"batch empty method":  func() error { _, err := c.Batch(ctx, false, bitrix24.BatchCommand{Key: "a"}); return err },
		"batch duplicate key": func() error {
			_, err := c.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "x"}, bitrix24.BatchCommand{Key: "a", Method: "y"})
			return err
		},
	}
	for name, call := range bad {
		err := call()
		require.ErrorIs(t, err, bitrix24.ErrValidation, name)
		var ve *bitrix24.ValidationError
		require.ErrorAs(t, err, &ve, name)
		assert.NotEmpty(t, ve.Field, name)
		assert.NotEmpty(t, ve.Rule, name)
	}
	assert.Zero(t, mt.GetTotalCallCount(), "validation must fail before any request")
}

func TestConstructorsValidate(t *testing.T) {
	t.Parallel()
	webhooks := []string{
		"", "::", "portal.example.test/rest/1/abc/", "http://portal.example.test/rest/1/abc/",
		"ftp://portal.example.test/rest/1/abc/", "https:///rest/1/abc/", "https://portal.example.test/rest/abc/",
		"https://portal.example.test/rest/x1/abc/", "https://portal.example.test/rest/1//", "https://portal.example.test/1/abc/",
		"https://portal.example.test/rest/1/abc/?x=1", "https://user:pw@portal.example.test/rest/1/abc/",
		"https://portal.example.test/rest/1/a%2Fb/",
	}
	for _, w := range webhooks {
		_, err := bitrix24.NewWebhookClient(w)
		require.ErrorIs(t, err, bitrix24.ErrValidation, w)
		assert.NotContains(t, err.Error(), "abc", "the error must not quote the webhook code")
	}
	for _, w := range []string{testWebhook, strings.TrimSuffix(testWebhook, "/"), "https://portal.example.test/rest/12/abc/"} {
		_, err := bitrix24.NewWebhookClient(w)
		require.NoError(t, err, w)
	}
	_, err := bitrix24.NewWebhookClient("http://localhost:8080/rest/1/abc/", bitrix24.WithAllowHTTP())
	require.NoError(t, err)

	mutate := []func(*bitrix24.OAuthConfig){
		func(c *bitrix24.OAuthConfig) { c.PortalURL = "" },
		func(c *bitrix24.OAuthConfig) { c.PortalURL = "http://portal.example.test" },
		func(c *bitrix24.OAuthConfig) { c.PortalURL = "portal.example.test" },
		func(c *bitrix24.OAuthConfig) { c.ClientID = "" },
		func(c *bitrix24.OAuthConfig) { c.ClientSecret = "" },
		func(c *bitrix24.OAuthConfig) { c.Token.AccessToken = "" },
		func(c *bitrix24.OAuthConfig) { c.TokenURL = "http://oauth.example.test/oauth/token/" },
		func(c *bitrix24.OAuthConfig) { c.TokenURL = "https://oauth.example.test/oauth/token/?client_secret=x" },
	}
	for i, m := range mutate {
		cfg := testOAuthConfig()
		m(&cfg)
		_, err := bitrix24.NewOAuthClient(cfg)
		require.ErrorIs(t, err, bitrix24.ErrValidation, "case %d", i)
		requireNoSecret(t, err.Error())
	}
	cfg := testOAuthConfig()
	cfg.TokenURL = ""
	_, err = bitrix24.NewOAuthClient(cfg)
	require.NoError(t, err, "the default token URL is used")

	for i, opt := range []bitrix24.Option{
		bitrix24.WithHTTPClient(nil), bitrix24.WithTimeout(-1), bitrix24.WithRetry(-1, 0, 0),
		bitrix24.WithRateLimit(-1, 1), bitrix24.WithLogger(nil), bitrix24.WithMaxResponseSize(0),
	} {
		_, err := bitrix24.NewWebhookClient(testWebhook, opt)
		require.ErrorIs(t, err, bitrix24.ErrValidation, "option %d", i)
	}
}

func TestFormattingHidesSecrets(t *testing.T) {
	t.Parallel()
	cfg := testOAuthConfig()
	oc, err := bitrix24.NewOAuthClient(cfg)
	require.NoError(t, err)
	wc, err := bitrix24.NewWebhookClient(testWebhook)
	require.NoError(t, err)
	for _, v := range []any{cfg, &cfg, cfg.Token, oc, wc} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			requireNoSecret(t, fmt.Sprintf(verb, v))
		}
	}
	assert.Contains(t, fmt.Sprint(wc), "REDACTED")
}

func TestRefreshThenReplay(t *testing.T) {
	t.Parallel()
	cfg := testOAuthConfig()
	var refreshed []bitrix24.Token
	cfg.OnTokenRefresh = func(_ context.Context, tok bitrix24.Token) error {
		refreshed = append(refreshed, tok)
		return nil
	}
	c, mt := newOAuthClient(t, cfg)
	var calls, tokens recorder
	mt.RegisterResponder("POST", testPortal+"/rest/user.option.get", calls.wrap(t,
		jsonResponder(401, `{"error":"expired_token","error_description":"The access token provided has expired"}`).
			Then(func(req *http.Request) (*http.Response, error) {
				require.Len(t, refreshed, 1, "OnTokenRefresh sees the pair before it is used")
				return jsonResponder(200, fixture(t, "useroption_get_value.json"))(req)
			})))
	mt.RegisterResponder("POST", testTokenURL, func(req *http.Request) (*http.Response, error) {
		assert.Empty(t, req.URL.RawQuery, "no secret in the token URL")
		require.NoError(t, req.ParseForm())
		assert.Equal(t, "refresh_token", req.PostForm.Get("grant_type"))
		assert.Equal(t, cfg.ClientID, req.PostForm.Get("client_id"))
		assert.Equal(t, testSecret, req.PostForm.Get("client_secret"))
		assert.Equal(t, testRefresh, req.PostForm.Get("refresh_token"))
		tokens.mu.Lock()
		tokens.bodies = append(tokens.bodies, nil)
		tokens.mu.Unlock()
		body := strings.NewReplacer("ydtj8pho532wydb5ixk78ol7uqlb7sch", testNewAccess, "3s6lr4kr3cv2od4v853gvrchb875bwxb", testNewRefresh).
			Replace(fixture(t, "token_refresh_ok.json"))
		return jsonResponder(200, body)(req)
	})

	var v string
	found, err := c.UserOption.Get(context.Background(), "k", &v)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "value", v)
	require.Equal(t, 2, calls.count())
	assert.Equal(t, testAccess, calls.body(0)["auth"])
	assert.Equal(t, testNewAccess, calls.body(1)["auth"])
	assert.Equal(t, 1, tokens.count())
	require.Len(t, refreshed, 1)
	assert.Equal(t, testNewRefresh, refreshed[0].RefreshToken)
	assert.Equal(t, 67, refreshed[0].UserID)
	// Counted from the answer's arrival and expires_in, not the server's expires (issue 20, item 5).
	assert.WithinDuration(t, time.Now().Add(time.Hour), refreshed[0].Expiry, time.Minute)
	assert.Equal(t, testNewAccess, c.Token().AccessToken)
}

func TestExpiredTwiceIsReturnedNotLooped(t *testing.T) {
	t.Parallel()
	c, mt := newOAuthClient(t, testOAuthConfig())
	mt.RegisterResponder("POST", testPortal+"/rest/server.time",
		jsonResponder(401, `{"error":"expired_token","error_description":"The access token provided has expired"}`))
	mt.RegisterResponder("POST", testTokenURL, jsonResponder(200, fixture(t, "token_refresh_ok.json")))
	err := c.Call(context.Background(), "server.time", nil, nil)
	require.ErrorIs(t, err, bitrix24.ErrExpiredToken)
	assert.Equal(t, 2, mt.GetCallCountInfo()["POST "+testPortal+"/rest/server.time"], "one replay only")
	assert.Equal(t, 1, mt.GetCallCountInfo()["POST "+testTokenURL])
}

func TestProactiveRefreshBeforeExpiry(t *testing.T) {
	t.Parallel()
	cfg := testOAuthConfig()
	cfg.Token.Expiry = time.Now().Add(5 * time.Second) // inside the margin
	c, mt := newOAuthClient(t, cfg)
	var calls recorder
	mt.RegisterResponder("POST", testTokenURL, jsonResponder(200, strings.ReplaceAll(fixture(t, "token_refresh_ok.json"), "ydtj8pho532wydb5ixk78ol7uqlb7sch", testNewAccess)))
	mt.RegisterResponder("POST", testPortal+"/rest/server.time", calls.wrap(t, jsonResponder(200, `{"result":"now"}`)))
	require.NoError(t, c.Call(context.Background(), "server.time", nil, nil))
	assert.Equal(t, testNewAccess, calls.body(0)["auth"])
}

func TestRefreshFailuresAreTyped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status   int
		body     string
		sentinel error
	}{
		{400, `{"error":"invalid_grant","error_description":"Invalid grant"}`, bitrix24.ErrInvalidGrant},
		{401, `{"error":"invalid_client","error_description":"Invalid client"}`, bitrix24.ErrInvalidClient},
		{502, `<html><body>Bad Gateway</body></html>`, bitrix24.ErrUnexpectedResponse},
	} {
		c, mt := newOAuthClient(t, testOAuthConfig())
		mt.RegisterResponder("POST", testPortal+"/rest/server.time",
			jsonResponder(401, `{"error":"expired_token","error_description":"The access token provided has expired"}`))
		mt.RegisterResponder("POST", testTokenURL, jsonResponder(tc.status, tc.body))
		for i := 0; i < 3; i++ {
			err := c.Call(context.Background(), "server.time", nil, nil)
			require.ErrorIs(t, err, tc.sentinel)
			requireNoSecret(t, err.Error())
		}
		refreshes := mt.GetCallCountInfo()["POST "+testTokenURL]
		if tc.sentinel == bitrix24.ErrUnexpectedResponse {
			assert.Equal(t, 3, refreshes, "a transient failure is tried again by the next call")
		} else {
			assert.Equal(t, 1, refreshes, "a spent refresh token is not tried again")
			var apiErr *bitrix24.APIError
			require.ErrorAs(t, c.Call(context.Background(), "server.time", nil, nil), &apiErr)
			assert.Equal(t, "oauth/token", apiErr.Method)
		}
	}
}

func TestOnTokenRefreshErrorKeepsNewPair(t *testing.T) {
	t.Parallel()
	cfg := testOAuthConfig()
	hookErr := errors.New("database down")
	cfg.OnTokenRefresh = func(context.Context, bitrix24.Token) error { return hookErr }
	c, mt := newOAuthClient(t, cfg)
	var calls recorder
	mt.RegisterResponder("POST", testPortal+"/rest/server.time", calls.wrap(t,
		jsonResponder(401, `{"error":"expired_token","error_description":"The access token provided has expired"}`).
			Then(jsonResponder(200, `{"result":"now"}`))))
	mt.RegisterResponder("POST", testTokenURL, jsonResponder(200, strings.ReplaceAll(fixture(t, "token_refresh_ok.json"), "ydtj8pho532wydb5ixk78ol7uqlb7sch", testNewAccess)))

	err := c.Call(context.Background(), "server.time", nil, nil)
	require.ErrorIs(t, err, hookErr)
	assert.Equal(t, testNewAccess, c.Token().AccessToken, "the old refresh token is spent: keep the new pair")
	require.NoError(t, c.Call(context.Background(), "server.time", nil, nil))
	assert.Equal(t, testNewAccess, calls.body(1)["auth"])
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	limit := jsonResponder(503, `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`)
	html := httpmock.Responder(func(req *http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
		resp.Header.Set("Content-Type", "text/html")
		return resp, nil
	})
	ok := jsonResponder(200, `{"result":true}`)
	tests := []struct {
		name      string
		method    string
		responder httpmock.Responder
		calls     int
		wantErr   error
	}{
		{"limit then ok", "crm.item.add", limit.Then(limit).Then(ok), 3, nil},
		{"limit exhausts retries", "crm.item.add", limit, 4, bitrix24.ErrQueryLimitExceeded},
		{"operation time limit never retried", "user.option.get", jsonResponder(429, `{"error":"OPERATION_TIME_LIMIT","error_description":"Method is blocked due to operation time limit."}`), 1, bitrix24.ErrOperationTimeLimit},
		{"overload never retried", "user.option.get", jsonResponder(503, `{"error":"OVERLOAD_LIMIT","error_description":"REST API is blocked due to overload."}`), 1, bitrix24.ErrOverloadLimit},
		{"html 502 on add not retried", "userfieldtype.add", html, 1, bitrix24.ErrUnexpectedResponse},
		{"html 502 on get retried", "user.option.get", html.Then(ok), 2, nil},
		{"internal error on set retried", "user.option.set", jsonResponder(500, `{"error":"INTERNAL_SERVER_ERROR","error_description":"Internal server error"}`).Then(ok), 2, nil},
		{"internal error on batch not retried", "batch", jsonResponder(500, `{"error":"INTERNAL_SERVER_ERROR","error_description":"Internal server error"}`), 1, bitrix24.ErrInternal},
		{"argument error never retried", "user.option.set", jsonResponder(400, `{"error":"ERROR_ARGUMENT","error_description":"x"}`), 1, bitrix24.ErrArgument},
		{"transport error on add not retried", "userfieldtype.add", httpmock.NewErrorResponder(errors.New("connection reset by peer")), 1, nil},
		{"transport error on update retried", "userfieldtype.update", httpmock.NewErrorResponder(errors.New("connection reset by peer")), 4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newWebhookClient(t)
			mt.RegisterResponder("POST", testWebhook+tt.method, tt.responder)
			err := c.Call(context.Background(), tt.method, nil, nil)
			assert.Equal(t, tt.calls, mt.GetTotalCallCount())
			switch {
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
			case strings.Contains(tt.name, "transport"):
				require.Error(t, err)
			default:
				require.NoError(t, err)
			}
			if err != nil {
				requireNoSecret(t, err.Error())
			}
		})
	}
}

func TestOperationTimeLimitTellsWhenItUnblocks(t *testing.T) {
	t.Parallel()
	c, mt := newOAuthClient(t, testOAuthConfig())
	mt.RegisterResponder("POST", testPortal+"/rest/userfieldtype.list",
		jsonResponder(200, fixture(t, "userfieldtype_list_one.json")).
			Then(jsonResponder(429, `{"error":"OPERATION_TIME_LIMIT","error_description":"Method is blocked due to operation time limit."}`)))
	_, err := c.UserFieldType.List(context.Background())
	require.NoError(t, err)
	_, err = c.UserFieldType.List(context.Background())
	var apiErr *bitrix24.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, time.Unix(1724423874, 0), apiErr.ResetAt)
	assert.Contains(t, err.Error(), "2024-08-23T14:37:54Z")
	assert.Equal(t, time.Unix(1724423874, 0), c.OperatingResetAt("USERFIELDTYPE.LIST"))
}

func TestHostileAnswers(t *testing.T) {
	t.Parallel()
	big := `{"result":"` + strings.Repeat("x", 4096) + `"}`
	tests := []struct {
		name string
		body string
		ct   string
	}{
		{"html", "<html><body>502 Bad Gateway</body></html>", "text/html"},
		{"truncated", `{"result":{"a":`, "application/json"},
		{"empty", "", "application/json"},
		{"list", `[1,2,3]`, "application/json"},
		{"no result", `{"foo":1}`, "application/json"},
		{"too big", big, "application/json"},
		{"binary", "\x00\xff\xfe", "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newWebhookClient(t, bitrix24.WithMaxResponseSize(1024))
			mt.RegisterResponder("POST", testWebhook+"crm.item.add", func(*http.Request) (*http.Response, error) {
				resp := httpmock.NewStringResponse(200, tt.body)
				resp.Header.Set("Content-Type", tt.ct)
				return resp, nil
			})
			err := c.Call(context.Background(), "crm.item.add", nil, nil)
			require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse)
			var ue *bitrix24.UnexpectedResponseError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, 200, ue.StatusCode)
			assert.LessOrEqual(t, len(ue.Snippet), 256)
		})
	}
}

func TestTimeFieldsAsIntegersAndEmptyObjectsAsLists(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	mt.RegisterResponder("POST", testWebhook+"app.option.get",
		jsonResponder(200, `{"result":[],"time":{"start":1724423274,"finish":1724423275,"duration":1,"processing":0,"operating_reset_at":1724423874,"operating":0}}`))
	var res struct{ A string }
	require.NoError(t, c.Call(context.Background(), "app.option.get", nil, &res))
	m := map[string]string{"stale": "x"}
	require.NoError(t, c.Call(context.Background(), "app.option.get", nil, &m))
	assert.Empty(t, m)
	assert.Equal(t, time.Unix(1724423874, 0), c.OperatingResetAt("app.option.get"))
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	mt.RegisterResponder("POST", testWebhook+"server.time", jsonResponder(200, `{"result":"now"}`))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Call(ctx, "server.time", nil, nil)
	require.ErrorIs(t, err, context.Canceled)
	requireNoSecret(t, err.Error())
}

func TestNilContextAndZeroClientFailCleanly(t *testing.T) {
	t.Parallel()
	c, mt := newWebhookClient(t)
	var nilCtx context.Context
	require.ErrorIs(t, c.Call(nilCtx, "server.time", nil, nil), bitrix24.ErrValidation)
	_, err := c.Batch(nilCtx, false, bitrix24.BatchCommand{Key: "a", Method: "server.time"})
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	var zero bitrix24.Client
	require.ErrorIs(t, zero.Call(context.Background(), "server.time", nil, nil), bitrix24.ErrValidation)
	_, err = zero.Batch(context.Background(), false, bitrix24.BatchCommand{Key: "a", Method: "server.time"})
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	assert.Equal(t, "bitrix24.Client(unconfigured)", zero.String())
	assert.Zero(t, mt.GetTotalCallCount())
}
