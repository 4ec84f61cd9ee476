package bitrix24test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const errCoreBinded = "Unable to set placement handler: Handler already binded"

func uft(id, handler string) map[string]any {
	return map[string]any{"USER_TYPE_ID": id, "HANDLER": handler, "TITLE": "T " + id}
}

// TestUserFieldTypeAddRows covers the check-order table of reference §6.2.
func TestUserFieldTypeAddRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params map[string]any
		code   string
		desc   string
		arg    string
	}{
		{"USER_TYPE_ID missing", map[string]any{"HANDLER": "bad"}, "ERROR_ARGUMENT", "Argument 'USER_TYPE_ID' is null or empty", "USER_TYPE_ID"},
		{"USER_TYPE_ID empty", map[string]any{"USER_TYPE_ID": "", "HANDLER": "https://a.b/"}, "ERROR_ARGUMENT", "Argument 'USER_TYPE_ID' is null or empty", "USER_TYPE_ID"},
		{"HANDLER missing", map[string]any{"USER_TYPE_ID": "x"}, "ERROR_ARGUMENT", "Argument 'HANDLER' is null or empty", "HANDLER"},
		{"HANDLER not a URL", map[string]any{"USER_TYPE_ID": "x", "HANDLER": "not a url"}, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL", ""},
		{"HANDLER host without dot", map[string]any{"USER_TYPE_ID": "x", "HANDLER": "https://localhost/h"}, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL", ""},
		{"HANDLER host starting with dot", map[string]any{"USER_TYPE_ID": "x", "HANDLER": "https://.com/h"}, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL", ""},
		{"HANDLER without scheme", map[string]any{"USER_TYPE_ID": "x", "HANDLER": "example.com/h"}, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL", ""},
		{"HANDLER ftp", map[string]any{"USER_TYPE_ID": "x", "HANDLER": "ftp://example.com/h"}, "ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol", ""},
		{"HANDLER scheme-relative", map[string]any{"USER_TYPE_ID": "x", "HANDLER": "//example.com/h"}, "ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol", ""},
		{"HANDLER upper-case scheme", map[string]any{"USER_TYPE_ID": "x", "HANDLER": "HTTPS://example.com/h"}, "ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol", ""},
		{"TITLE too long", map[string]any{"USER_TYPE_ID": "x", "HANDLER": "https://example.com/h", "TITLE": strings.Repeat("я", 256)}, "ERROR_CORE", "Error: " + ormTitleTooLong, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSrv(t)
			r := callJSON(t, s, "userfieldtype.add", tc.params)
			requireErr(t, r, 400, tc.code, tc.desc)
			if tc.arg != "" {
				assert.Equal(t, tc.arg, r.body["argument"])
			} else {
				assert.NotContains(t, r.body, "argument")
			}
		})
	}
}

func TestUserFieldTypeAddSuccessAndDefaults(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	// Keys are case-insensitive, the id is lower-cased, TITLE defaults to the id,
	// OPTIONS keeps only height.
	r := callJSON(t, s, "userfieldtype.add", map[string]any{
		"user_type_id": "MyType", "handler": "http://example.com/h.php", "options": map[string]any{"HEIGHT": "60", "x": 1},
		"description": "  desc  ",
	})
	assert.Equal(t, true, requireResult(t, r))
	recs := s.UserFieldTypes(s.OAuthConfig().ClientID)
	require.Len(t, recs, 1)
	assert.Equal(t, UserFieldTypeRecord{ClientID: s.OAuthConfig().ClientID, UserTypeID: "mytype", Handler: "http://example.com/h.php",
		Title: "mytype", Description: "desc", Height: 60}, recs[0])

	r = callJSON(t, s, "userfieldtype.list", nil)
	assert.Equal(t, []any{map[string]any{"USER_TYPE_ID": "mytype", "HANDLER": "http://example.com/h.php", "TITLE": "mytype", "DESCRIPTION": "desc"}}, requireResult(t, r))
	assert.Contains(t, string(r.raw), `"HANDLER":"http:\/\/example.com\/h.php"`)
	assert.Contains(t, string(r.raw), `{"USER_TYPE_ID":"mytype","HANDLER":`, "item key order")
	assert.Equal(t, float64(1), r.body["total"])
	assert.NotContains(t, r.body, "next")

	// DESCRIPTION never given lists as null.
	requireResult(t, callJSON(t, s, "userfieldtype.add", uft("nodesc", "https://example.com/2")))
	items := requireResult(t, callJSON(t, s, "userfieldtype.list", nil)).([]any)
	require.Len(t, items, 2)
	assert.Nil(t, items[1].(map[string]any)["DESCRIPTION"])
	assert.Contains(t, items[1].(map[string]any), "DESCRIPTION")
}

func TestUserFieldTypeTitleTooLongKeepsRow(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	p := uft("long", "https://example.com/h")
	p["TITLE"] = strings.Repeat("x", 256)
	requireErr(t, callJSON(t, s, "userfieldtype.add", p), 400, "ERROR_CORE", "Error: "+ormTitleTooLong)
	// The placement row was created anyway: no rollback.
	assert.Len(t, s.UserFieldTypes(""), 1)
	requireErr(t, callJSON(t, s, "userfieldtype.add", uft("long", "https://example.com/other")), 400, "ERROR_CORE", errCoreBinded)
}

func TestUserFieldTypeUniqueness(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	app2 := s.InstallApp("placement")
	requireResult(t, callJSON(t, s, "userfieldtype.add", uft("shared", "https://example.com/a")))

	// USER_TYPE_ID is unique across the portal, whatever the case.
	requireErr(t, callJSON(t, s, "userfieldtype.add", uft("SHARED", "https://example.com/b")), 400, "ERROR_CORE", errCoreBinded)
	requireErr(t, callJSONAs(t, s, app2.Token.AccessToken, "userfieldtype.add", uft("shared", "https://example.com/c")), 400, "ERROR_CORE", errCoreBinded)
	// HANDLER is unique per application only.
	requireErr(t, callJSON(t, s, "userfieldtype.add", uft("other", "https://example.com/a")), 400, "ERROR_CORE", errCoreBinded)
	requireResult(t, callJSONAs(t, s, app2.Token.AccessToken, "userfieldtype.add", uft("other", "https://example.com/a")))

	// Each application lists only its own rows and cannot touch the other's.
	items := requireResult(t, callJSONAs(t, s, app2.Token.AccessToken, "userfieldtype.list", nil)).([]any)
	require.Len(t, items, 1)
	assert.Equal(t, "other", items[0].(map[string]any)["USER_TYPE_ID"])
	requireErr(t, callJSONAs(t, s, app2.Token.AccessToken, "userfieldtype.delete", map[string]any{"USER_TYPE_ID": "shared"}),
		400, "ERROR_NOT_FOUND", "User Field Type not found")
}

func TestUserFieldTypePermission(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	s.AddUser(4, false)
	tok := s.OAuthConfigForUser(4).Token.AccessToken
	for _, m := range []string{"add", "update", "list", "delete"} {
		// Admin check before any argument check.
		requireErr(t, callJSONAs(t, s, tok, "userfieldtype."+m, nil), 403, "ACCESS_DENIED", "Access denied!")
		// Webhooks: the auth type check comes first.
		requireErr(t, hookJSON(t, s, "userfieldtype."+m, map[string]any{}), 403, "WRONG_AUTH_TYPE",
			"Current authorization type is denied for this method Application context required")
	}
}

// TestUserFieldTypeUpdateRows covers reference §6.3.
func TestUserFieldTypeUpdateRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params map[string]any
		status int
		code   string
		desc   string
		arg    string
		after  UserFieldTypeRecord // expected stored row (zero: unchanged from the original)
	}{
		{name: "USER_TYPE_ID empty", params: map[string]any{"TITLE": "x"}, status: 400, code: "ERROR_ARGUMENT", desc: "Argument 'USER_TYPE_ID' is null or empty", arg: "USER_TYPE_ID"},
		{name: "bad HANDLER", params: map[string]any{"USER_TYPE_ID": "missing", "HANDLER": "https://nodot"}, status: 400, code: "ERROR_WRONG_HANDLER_URL", desc: "Wrong handler URL"},
		{name: "bad protocol", params: map[string]any{"USER_TYPE_ID": "t", "HANDLER": "ws://a.b/"}, status: 400, code: "ERROR_UNSUPPORTED_PROTOCOL", desc: "Unsupported handler protocol"},
		{name: "nothing to update, checked before existence", params: map[string]any{"USER_TYPE_ID": "missing"}, status: 400, code: "ERROR_ARGUMENT",
			desc: "Argument 'HANDLER|TITLE|DESCRIPTION' is null or empty", arg: "HANDLER|TITLE|DESCRIPTION"},
		{name: "not found", params: map[string]any{"USER_TYPE_ID": "missing", "TITLE": "x"}, status: 400, code: "ERROR_NOT_FOUND", desc: "User Field Type not found"},
		{name: "title and handler", params: map[string]any{"user_type_id": "T", "title": " New ", "handler": "https://example.com/new"}, status: 200,
			after: UserFieldTypeRecord{UserTypeID: "t", Handler: "https://example.com/new", Title: "New", Height: 10}},
		{name: "handler only: saved, then ERROR_CORE", params: map[string]any{"USER_TYPE_ID": "t", "HANDLER": "https://example.com/new"}, status: 400, code: "ERROR_CORE",
			desc: "Error: " + ormTitleRequired, after: UserFieldTypeRecord{UserTypeID: "t", Handler: "https://example.com/new", Title: "Old", Height: 10}},
		{name: "options only: saved, then ERROR_CORE", params: map[string]any{"USER_TYPE_ID": "t", "OPTIONS": map[string]any{"height": 99}}, status: 400, code: "ERROR_CORE",
			desc: "Error: " + ormTitleRequired, after: UserFieldTypeRecord{UserTypeID: "t", Handler: "https://example.com/old", Title: "Old", Height: 99}},
		{name: "title too long: saved, then ERROR_CORE", params: map[string]any{"USER_TYPE_ID": "t", "TITLE": strings.Repeat("x", 300)}, status: 400, code: "ERROR_CORE",
			desc: "Error: " + ormTitleTooLong, after: UserFieldTypeRecord{UserTypeID: "t", Handler: "https://example.com/old", Title: strings.Repeat("x", 300), Height: 10}},
		{name: "LANG_ALL instead of TITLE", params: map[string]any{"USER_TYPE_ID": "t", "LANG_ALL": map[string]any{"en": map[string]any{"TITLE": "Lang"}}}, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSrv(t)
			requireResult(t, callJSON(t, s, "userfieldtype.add", map[string]any{
				"USER_TYPE_ID": "t", "HANDLER": "https://example.com/old", "TITLE": "Old", "OPTIONS": map[string]any{"height": 10},
			}))
			r := callJSON(t, s, "userfieldtype.update", tc.params)
			if tc.code != "" {
				requireErr(t, r, tc.status, tc.code, tc.desc)
				if tc.arg != "" {
					assert.Equal(t, tc.arg, r.body["argument"])
				}
			} else {
				assert.Equal(t, true, requireResult(t, r))
			}
			if tc.after.UserTypeID != "" {
				tc.after.ClientID = s.OAuthConfig().ClientID
				assert.Equal(t, []UserFieldTypeRecord{tc.after}, s.UserFieldTypes(""))
			}
		})
	}
}

func TestUserFieldTypeDelete(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	requireResult(t, callJSON(t, s, "userfieldtype.add", uft("gone", "https://example.com/g")))
	requireErr(t, callJSON(t, s, "userfieldtype.delete", nil), 400, "ERROR_ARGUMENT", "Argument 'USER_TYPE_ID' is null or empty")
	requireErr(t, callJSON(t, s, "userfieldtype.delete", map[string]any{"USER_TYPE_ID": "nope"}), 400, "ERROR_NOT_FOUND", "User Field Type not found")
	assert.Equal(t, true, requireResult(t, callJSON(t, s, "userfieldtype.delete", map[string]any{"user_type_id": "GONE"})))
	assert.Empty(t, s.UserFieldTypes(""))
	r := callJSON(t, s, "userfieldtype.list", nil)
	assert.Contains(t, string(r.raw), `"result":[],"total":0`)
	// The id is free again.
	requireResult(t, callJSON(t, s, "userfieldtype.add", uft("gone", "https://example.com/g")))
}

func TestUserFieldTypeListPaging(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	// 120 rows through three batches.
	for b := 0; b < 3; b++ {
		cmd := map[string]any{}
		for i := b * 50; i < b*50+50 && i < 120; i++ {
			cmd[fmt.Sprintf("c%03d", i)] = fmt.Sprintf("userfieldtype.add?USER_TYPE_ID=t%03d&HANDLER=https%%3A%%2F%%2Fexample.com%%2F%d&TITLE=T%d", i, i, i)
		}
		r := callJSON(t, s, "batch", map[string]any{"halt": 1, "cmd": cmd})
		res := requireResult(t, r).(map[string]any)
		require.Equal(t, []any{}, res["result_error"], "%s", r.raw)
	}
	require.Len(t, s.UserFieldTypes(""), 120)

	var got []string
	starts := []any{nil, float64(50), float64(100)}
	for page, start := range starts {
		params := map[string]any{}
		if start != nil {
			params["start"] = start
		}
		r := callJSON(t, s, "userfieldtype.list", params)
		items := requireResult(t, r).([]any)
		assert.Equal(t, float64(120), r.body["total"])
		switch page {
		case 0, 1:
			assert.Len(t, items, 50)
			assert.Equal(t, float64(50*(page+1)), r.body["next"])
		case 2:
			assert.Len(t, items, 20)
			assert.NotContains(t, r.body, "next")
		}
		for _, it := range items {
			m := it.(map[string]any)
			assert.Len(t, m, 4)
			got = append(got, m["USER_TYPE_ID"].(string))
		}
	}
	require.Len(t, got, 120)
	for i, id := range got {
		assert.Equal(t, fmt.Sprintf("t%03d", i), id, "insertion order")
	}
	// start in the query string of a GET, past the end.
	r := send(t, s, http.MethodGet, s.URL+"/rest/userfieldtype.list?start=500&auth="+s.Token().AccessToken, "", "", nil)
	assert.Equal(t, []any{}, requireResult(t, r))
	assert.Equal(t, float64(120), r.body["total"])
}
