package bitrix24_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// The shape of a recorded ONCRMCONTACTADD body (reference §4.2), brackets escaped as on
// the wire.
const contactAddBody = "event=ONCRMCONTACTADD&event_handler_id=17&data%5BFIELDS%5D%5BID%5D=2051&ts=1767261600" +
	"&auth%5Baccess_token%5D=9c2eacc3ss&auth%5Bexpires%5D=1767265200&auth%5Bexpires_in%5D=3600" +
	"&auth%5Bscope%5D=crm%2Cplacement%2Cuser_brief&auth%5Bdomain%5D=acme.bitrix24.com" +
	"&auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info%2Frest%2F&auth%5Bstatus%5D=L" +
	"&auth%5Bclient_endpoint%5D=https%3A%2F%2Facme.bitrix24.com%2Frest%2F" +
	"&auth%5Bmember_id%5D=4c1f9e0b7d2a48f6a3e5b9c0d8f7e6a1&auth%5Buser_id%5D=1" +
	"&auth%5Bapplication_token%5D=9e3b7c1d5f0a4e2b8c6d4f1a3b5e7c9d"

func TestParseEventRecordedShape(t *testing.T) {
	before := time.Now()
	ev, err := bitrix24.ParseEvent(formRequest(t, "/events", contactAddBody))
	require.NoError(t, err)
	assert.Equal(t, "ONCRMCONTACTADD", ev.Name)
	assert.Equal(t, 17, ev.HandlerID)
	assert.Equal(t, time.Unix(1767261600, 0), ev.Timestamp)
	assert.Equal(t, map[string]any{"FIELDS": map[string]any{"ID": "2051"}}, ev.Data)
	a := ev.Auth
	assert.Equal(t, "9c2eacc3ss", a.Token.AccessToken)
	assert.Empty(t, a.Token.RefreshToken)
	// expires_in counts from the arrival (issue 20, item 5): the recorded expires is the
	// portal's clock, in the past of today's.
	assert.WithinRange(t, a.Token.Expiry, before.Add(time.Hour), time.Now().Add(time.Hour), "expires_in wins over expires")
	assert.Equal(t, "crm,placement,user_brief", a.Token.Scope)
	assert.Equal(t, "4c1f9e0b7d2a48f6a3e5b9c0d8f7e6a1", a.Token.MemberID)
	assert.Equal(t, "https://acme.bitrix24.com/rest/", a.Token.ClientEndpoint)
	assert.Equal(t, "https://oauth.bitrix.info/rest/", a.Token.ServerEndpoint)
	assert.Equal(t, 1, a.Token.UserID)
	assert.Equal(t, "acme.bitrix24.com", a.Domain)
	assert.Equal(t, "L", a.Status)
	assert.Equal(t, "9e3b7c1d5f0a4e2b8c6d4f1a3b5e7c9d", a.ApplicationToken)

	// Neither %v nor %+v nor %#v shows the tokens.
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, ev) + fmt.Sprintf(format, *ev) + fmt.Sprintf(format, ev.Auth)
		assertNoSecret(t, out, "9c2eacc3ss", "9e3b7c1d5f0a4e2b8c6d4f1a3b5e7c9d")
	}
}

func TestParseEventExpiresInIsADuration(t *testing.T) {
	body := "event=ONAPPINSTALL&auth[member_id]=m1&auth[expires_in]=3600&auth[access_token]=a&auth[refresh_token]=r"
	before := time.Now()
	ev, err := bitrix24.ParseEvent(formRequest(t, "/", body))
	require.NoError(t, err)
	assert.WithinRange(t, ev.Auth.Token.Expiry, before.Add(time.Hour), time.Now().Add(time.Hour))
	assert.Equal(t, "r", ev.Auth.Token.RefreshToken)
}

func TestParseEventNumericKeysBecomeLists(t *testing.T) {
	body := "event=ONCRMDEALUPDATE&auth[member_id]=m1&data[IDS][0]=5&data[IDS][1]=6&data[0]=x"
	ev, err := bitrix24.ParseEvent(formRequest(t, "/", body))
	require.NoError(t, err)
	assert.Equal(t, []any{"5", "6"}, ev.Data["IDS"])
	assert.Equal(t, "x", ev.Data["0"], "Data itself stays a map")
}

func TestParseEventUninstallHasNoTokens(t *testing.T) {
	body := "event=ONAPPUNINSTALL&data[LANGUAGE_ID]=de&data[CLEAN]=1&auth[domain]=acme.bitrix24.com" +
		"&auth[member_id]=m1&auth[application_token]=t0k&auth[client_endpoint]=https://acme.bitrix24.com/rest/"
	ev, err := bitrix24.ParseEvent(formRequest(t, "/", body))
	require.NoError(t, err)
	assert.Empty(t, ev.Auth.Token.AccessToken)
	assert.True(t, ev.Auth.Token.Expiry.IsZero())
	assert.Equal(t, "1", ev.Data["CLEAN"])
}

func TestParseEventRefusals(t *testing.T) {
	cases := map[string]*http.Request{
		"GET":             mustRequest(t, http.MethodGet, "event=X&auth[member_id]=m", "application/x-www-form-urlencoded"),
		"JSON body":       mustRequest(t, http.MethodPost, `{"event":"X"}`, "application/json"),
		"no event":        formRequest(t, "/", "auth[member_id]=m"),
		"no auth":         formRequest(t, "/", "event=X&data[a]=b"),
		"no member_id":    formRequest(t, "/", "event=X&auth[domain]=d"),
		"bad escape":      formRequest(t, "/", "event=X&auth[member_id]=m%zz"),
		"bad ts":          formRequest(t, "/", "event=X&auth[member_id]=m&ts=yesterday"),
		"bad expires":     formRequest(t, "/", "event=X&auth[member_id]=m&auth[expires]=soon"),
		"bad expires_in":  formRequest(t, "/", "event=X&auth[member_id]=m&auth[expires_in]=-5"),
		"bad user_id":     formRequest(t, "/", "event=X&auth[member_id]=m&auth[user_id]=admin"),
		"bad handler id":  formRequest(t, "/", "event=X&auth[member_id]=m&event_handler_id=x"),
		"oversized body":  formRequest(t, "/", "event=X&auth[member_id]=m&pad="+strings.Repeat("a", 1<<20)),
		"auth not a map":  formRequest(t, "/", "event=X&auth=secret"),
		"event not value": formRequest(t, "/", "event[x]=X&auth[member_id]=m"),
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := bitrix24.ParseEvent(req)
			require.ErrorIs(t, err, bitrix24.ErrValidation)
		})
	}
	_, err := bitrix24.ParseEvent(nil)
	require.ErrorIs(t, err, bitrix24.ErrValidation)
}

func TestParseEventKeepsBodyForLaterReaders(t *testing.T) {
	req := formRequest(t, "/", "event=X&auth[member_id]=m&extra=1")
	_, err := bitrix24.ParseEvent(req)
	require.NoError(t, err)
	require.NoError(t, req.ParseForm())
	assert.Equal(t, "1", req.PostForm.Get("extra"))
}

func TestVerifyApplicationToken(t *testing.T) {
	assert.True(t, bitrix24.VerifyApplicationToken("abc123", "abc123"))
	assert.False(t, bitrix24.VerifyApplicationToken("abc123", "abc124"))
	assert.False(t, bitrix24.VerifyApplicationToken("abc123", "abc1234"))
	assert.False(t, bitrix24.VerifyApplicationToken("", ""), "two empty tokens never match")
	assert.False(t, bitrix24.VerifyApplicationToken("abc", ""))
	assert.False(t, bitrix24.VerifyApplicationToken("", "abc"))
}

func mustRequest(t *testing.T, method, body, contentType string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "https://app.example.test/", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	return req
}
