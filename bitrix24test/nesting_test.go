package bitrix24test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/b24go/bitrix24/internal/phpquery"
	"github.com/stretchr/testify/require"
)

// deepForm is "options[a]" followed by levels-1 more "[b]" groups.
func deepForm(levels int) string {
	return "options[a]" + strings.Repeat("[b]", levels-1) + "=1"
}

func postWithQueryAuth(t *testing.T, s *Server, method, contentType, body string) resp {
	t.Helper()
	u := s.URL + "/rest/" + method + "?auth=" + url.QueryEscape(s.Token().AccessToken)
	return send(t, s, http.MethodPost, u, contentType, body, nil)
}

// A form body 2,000,000 levels deep (6 MB) once crashed the fake with a stack overflow.
// Like PHP (max_input_nesting_level), the variable is dropped, so the method sees no
// options and answers its error; the server keeps serving.
func TestDeeplyNestedFormBodyAnswersError(t *testing.T) {
	s := newSrv(t)
	r := postWithQueryAuth(t, s, "user.option.set", "application/x-www-form-urlencoded", deepForm(2_000_000))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "ERROR_ARGUMENT", r.errCode())
	require.Equal(t, "options", r.body["argument"])

	last, ok := s.LastRequest("user.option.set")
	require.True(t, ok)
	require.Empty(t, last.Params)

	r = callJSON(t, s, "user.option.set", map[string]any{"options": map[string]any{"k": "v"}})
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
}

func TestFormNestingLimitIsPHPs(t *testing.T) {
	s := newSrv(t)
	r := postWithQueryAuth(t, s, "user.option.set", "application/x-www-form-urlencoded", deepForm(phpquery.MaxNestingLevel))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.Contains(t, s.UserOptions(s.OAuthConfig().ClientID, 1), "a")

	r = postWithQueryAuth(t, s, "batch", "application/x-www-form-urlencoded",
		"cmd[x]="+url.QueryEscape("user.option.set?"+deepForm(phpquery.MaxNestingLevel+1)))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	errs, _ := r.body["result"].(map[string]any)["result_error"].(map[string]any)
	require.Contains(t, errs, "x", "the too-deep command parameter is dropped, as by parse_str")
}

// A JSON body nested deeper than json_decode's 512 is ignored, as a body that does not
// decode; up to 512 it is kept.
func TestJSONNestingLimit(t *testing.T) {
	s := newSrv(t)
	body := func(depth int) string { // the outer object and "options" count two levels
		n := depth - 2
		return `{"options":{"a":` + strings.Repeat("[", n) + "1" + strings.Repeat("]", n) + "}}"
	}
	r := postWithQueryAuth(t, s, "user.option.set", "application/json", body(maxJSONDepth))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))

	r = postWithQueryAuth(t, s, "user.option.set", "application/json", body(maxJSONDepth+1))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "ERROR_ARGUMENT", r.errCode())

	r = postWithQueryAuth(t, s, "user.option.set", "application/json", `{"options":{"s":"[[[{{{\"\\"}}`)
	require.Equal(t, http.StatusOK, r.status, "brackets inside strings do not count: %s", r.raw)
}
