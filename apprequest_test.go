package bitrix24_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

const tabQuery = "/crm-tab?DOMAIN=acme.bitrix24.com&PROTOCOL=1&LANG=en&APP_SID=3f8e2c7a9b1d4e6f8a0c2e4b6d8f1a3c"

func TestParseAppRequestCurrentPortal(t *testing.T) {
	form := url.Values{
		"AUTH_ID":           {"7f3e9a0bacc"},
		"AUTH_EXPIRES":      {"3600"},
		"REFRESH_ID":        {"6e2d8f9aref"},
		"SERVER_ENDPOINT":   {"https://oauth.bitrix.info/rest/"},
		"APPLICATION_TOKEN": {"9e3b7c1dapp"},
		"APPLICATION_SCOPE": {"crm,placement"},
		"member_id":         {"4c1f9e0b"},
		"status":            {"L"},
		"PLACEMENT":         {"CRM_DEAL_DETAIL_TAB"},
		"PLACEMENT_OPTIONS": {`{"ID":"412","URI":"\/crm\/deal\/details\/412\/"}`},
	}
	before := time.Now()
	r, err := bitrix24.ParseAppRequest(formRequest(t, tabQuery, form.Encode()))
	require.NoError(t, err)
	assert.Equal(t, "acme.bitrix24.com", r.Domain)
	assert.Equal(t, "1", r.Protocol)
	assert.Equal(t, "en", r.Lang)
	assert.Equal(t, "3f8e2c7a9b1d4e6f8a0c2e4b6d8f1a3c", r.AppSID)
	assert.Equal(t, "7f3e9a0bacc", r.Token.AccessToken)
	assert.Equal(t, "6e2d8f9aref", r.Token.RefreshToken)
	assert.WithinRange(t, r.Token.Expiry, before.Add(time.Hour), time.Now().Add(time.Hour), "AUTH_EXPIRES is a duration")
	assert.Equal(t, "crm,placement", r.Token.Scope)
	assert.Equal(t, "4c1f9e0b", r.Token.MemberID)
	assert.Equal(t, "https://oauth.bitrix.info/rest/", r.Token.ServerEndpoint)
	assert.Equal(t, "https://acme.bitrix24.com/rest/", r.Token.ClientEndpoint)
	assert.Equal(t, "L", r.Status)
	assert.Equal(t, "CRM_DEAL_DETAIL_TAB", r.Placement)
	assert.JSONEq(t, `{"ID":"412","URI":"/crm/deal/details/412/"}`, string(r.PlacementOptions))
	assert.Equal(t, "9e3b7c1dapp", r.ApplicationToken)
	for _, format := range []string{"%v", "%+v", "%#v"} {
		assertNoSecret(t, fmt.Sprintf(format, r)+fmt.Sprintf(format, *r), "7f3e9a0bacc", "6e2d8f9aref", "9e3b7c1dapp")
	}
}

func TestParseAppRequestOlderPortal(t *testing.T) {
	// The shape of the PHP SDK's fixture: no SERVER_ENDPOINT, APPLICATION_TOKEN, scope.
	body := "AUTH_ID=5a7c&AUTH_EXPIRES=3600&REFRESH_ID=4b6d&member_id=4c1f&status=L&PLACEMENT=DEFAULT" +
		"&PLACEMENT_OPTIONS=%7B%22any%22%3A%2228%5C%2F%22%7D"
	r, err := bitrix24.ParseAppRequest(formRequest(t, "/?DOMAIN=crm.example.org:8443&PROTOCOL=0&LANG=ru&APP_SID=aa", body))
	require.NoError(t, err)
	assert.Empty(t, r.ApplicationToken)
	assert.Empty(t, r.Token.ServerEndpoint)
	assert.Empty(t, r.Token.Scope)
	assert.Equal(t, "http://crm.example.org:8443", r.PortalURL())
	assert.JSONEq(t, `{"any":"28/"}`, string(r.PlacementOptions))
}

func TestParseAppRequestWithoutToken(t *testing.T) {
	r, err := bitrix24.ParseAppRequest(formRequest(t, tabQuery, "AUTH_ID=&REFRESH_ID=&member_id=m&PLACEMENT=USERFIELD_TYPE"))
	require.NoError(t, err, "an empty AUTH_ID parses (a user without access to the app)")
	assert.Empty(t, r.Token.AccessToken)
	assert.Nil(t, r.PlacementOptions)
	assert.True(t, r.Token.Expiry.IsZero())
}

func TestParseAppRequestRefusals(t *testing.T) {
	cases := map[string]struct{ target, body string }{
		"no DOMAIN":         {"/", "member_id=m"},
		"DOMAIN with path":  {"/?DOMAIN=evil.test/x", "member_id=m"},
		"DOMAIN with ;":     {"/?DOMAIN=a.test;%20script-src%20*", "member_id=m"},
		"no member_id":      {tabQuery, "AUTH_ID=a"},
		"bad AUTH_EXPIRES":  {tabQuery, "member_id=m&AUTH_EXPIRES=1h"},
		"bad options":       {tabQuery, "member_id=m&PLACEMENT_OPTIONS=undefined"},
		"malformed form":    {tabQuery, "member_id=m&AUTH_ID=%G1"},
		"oversized form":    {tabQuery, "member_id=m&x=" + string(make([]byte, 1<<20+1))},
		"member_id as list": {tabQuery, "member_id[]=m"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := bitrix24.ParseAppRequest(formRequest(t, c.target, c.body))
			require.ErrorIs(t, err, bitrix24.ErrValidation)
		})
	}
	_, err := bitrix24.ParseAppRequest(mustRequest(t, "GET", "", ""))
	require.ErrorIs(t, err, bitrix24.ErrValidation)
}

func userField(t *testing.T, options string) (*bitrix24.UserFieldPlacement, error) {
	t.Helper()
	r, err := bitrix24.ParseAppRequest(formRequest(t, tabQuery, url.Values{
		"member_id": {"m"}, "PLACEMENT": {"USERFIELD_TYPE"}, "PLACEMENT_OPTIONS": {options},
	}.Encode()))
	require.NoError(t, err)
	return r.UserField()
}

func TestUserFieldRecordedEdit(t *testing.T) {
	// Recorded on a self-hosted portal: ENTITY_VALUE_ID a string, VALUE null.
	f, err := userField(t, `{"MODE":"edit","ENTITY_ID":"CRM_DEAL","FIELD_NAME":"UF_CRM_1560000000001","ENTITY_VALUE_ID":"70001","VALUE":null,"MULTIPLE":"N","MANDATORY":"N","XML_ID":null}`)
	require.NoError(t, err)
	assert.Equal(t, &bitrix24.UserFieldPlacement{Mode: "edit", EntityID: "CRM_DEAL", FieldName: "UF_CRM_1560000000001",
		EntityValueID: 70001}, f)
	assert.Equal(t, "", f.Value())
}

func TestUserFieldValues(t *testing.T) {
	cases := map[string][]string{
		`null`:              nil,
		`""`:                nil,
		`[null]`:            nil,
		`[]`:                nil,
		`"4"`:               {"4"},
		`4`:                 {"4"},
		`["+1555","+1556"]`: {"+1555", "+1556"},
		`["a",null,"b"]`:    {"a", "b"},
		`[1,2.5,true]`:      {"1", "2.5", "true"},
		`"\u0022q\u0022"`:   {`"q"`},
	}
	for value, want := range cases {
		f, err := userField(t, `{"MODE":"view","ENTITY_ID":"CRM_LEAD","FIELD_NAME":"UF_X","ENTITY_VALUE_ID":123,"VALUE":`+value+`,"MULTIPLE":"Y","MANDATORY":"Y","XML_ID":"PHONE","ENTITY_DATA":{"entityTypeId":1,"entityId":123,"module":"crm"}}`)
		require.NoError(t, err, value)
		assert.Equal(t, want, f.Values, value)
		assert.Equal(t, bitrix24.ID(123), f.EntityValueID)
		assert.True(t, f.Multiple)
		assert.True(t, f.Mandatory)
		assert.Equal(t, "PHONE", f.XMLID)
		assert.JSONEq(t, `{"entityTypeId":1,"entityId":123,"module":"crm"}`, string(f.EntityData))
	}
}

func TestUserFieldRefusals(t *testing.T) {
	for name, options := range map[string]string{
		"mode missing":    `{"VALUE":null}`,
		"mode unknown":    `{"MODE":"delete"}`,
		"not an object":   `["view"]`,
		"nested value":    `{"MODE":"view","VALUE":[{"a":1}]}`,
		"bad entity id":   `{"MODE":"view","ENTITY_VALUE_ID":"abc"}`,
		"options missing": ``,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := userField(t, options)
			require.ErrorIs(t, err, bitrix24.ErrValidation)
		})
	}
	r, err := bitrix24.ParseAppRequest(formRequest(t, tabQuery, "member_id=m&PLACEMENT=DEFAULT&PLACEMENT_OPTIONS=%7B%22MODE%22%3A%22view%22%7D"))
	require.NoError(t, err)
	_, err = r.UserField()
	require.ErrorIs(t, err, bitrix24.ErrValidation, "only a USERFIELD_TYPE request has a field")
}

// The fake portal's USERFIELD_TYPE POSTs decode into what they were built from.
func TestUserFieldFromFakePortal(t *testing.T) {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	ctx := context.Background()
	cases := []bitrix24test.UserFieldOptions{
		{Mode: "view", Values: []string{"3"}, EntityValueID: 15},
		{Mode: "edit", EntityValueIDString: true, EntityValueID: 70001, EntityID: "CRM_DEAL", FieldName: "UF_CRM_RATING"},
		{Mode: "edit", Multiple: true, Values: []string{"a/b", `q"uote`, "<x>"}, Mandatory: true, XMLID: "R"},
		{Mode: "view", Multiple: true, Page: bitrix24test.PageOptions{OldPortal: true, UserID: 5}},
	}
	for i, o := range cases {
		req, err := srv.UserFieldRequest(ctx, "https://app.example.test/field?x=1", o)
		require.NoError(t, err)
		r, err := bitrix24.ParseAppRequest(req)
		require.NoError(t, err, i)
		assert.Equal(t, srv.MemberID(), r.Token.MemberID)
		assert.NotEmpty(t, r.Token.AccessToken)
		assert.Equal(t, o.Page.OldPortal, r.ApplicationToken == "", i)
		f, err := r.UserField()
		require.NoError(t, err, i)
		assert.Equal(t, o.Mode, f.Mode)
		assert.Equal(t, bitrix24.ID(o.EntityValueID), f.EntityValueID)
		assert.Equal(t, o.Multiple, f.Multiple)
		assert.Equal(t, o.Mandatory, f.Mandatory)
		assert.Equal(t, o.XMLID, f.XMLID)
		if len(o.Values) == 0 {
			assert.Nil(t, f.Values)
		} else {
			assert.Equal(t, o.Values, f.Values)
		}
	}
}
