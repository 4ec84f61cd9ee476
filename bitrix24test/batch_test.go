package bitrix24test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func batchResult(t *testing.T, r resp) map[string]any {
	t.Helper()
	res, ok := requireResult(t, r).(map[string]any)
	require.True(t, ok, "%s", r.raw)
	for _, k := range []string{"result", "result_error", "result_total", "result_next", "result_time"} {
		require.Contains(t, res, k, "all five sections are always present")
	}
	require.Len(t, res, 5)
	return res
}

func TestBatchBasicAndReferences(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	requireResult(t, callJSON(t, s, "user.option.set", map[string]any{"src": map[string]any{"id": "42", "list": []any{"a", "b"}, "flag": true, "num": 7}}))
	// encoding/json sends the keys sorted, which is the order they run in.
	r := callJSON(t, s, "batch", map[string]any{"halt": 0, "cmd": map[string]any{
		"get":       "user.option.get?option=src",
		"h_scalar":  "user.option.set?copy=$result[get][id]",
		"i_embed":   "user.option.set?emb=id%20$result[get][id]%20x&greedy=id-$result[get][id]-x",
		"j_whole":   "user.option.set?arr=$result[get][list]",
		"k_embarr":  "user.option.set?embarr=x$result[get][list]",
		"l_missing": "user.option.set?miss=$result[nope][id]",
		"m_upper":   "user.option.set?up=$RESULT[get][id]",
		"n_embbool": "user.option.set?embbool=x$result[get][flag]y",
		"o_embup":   "user.option.set?embup=p$RESULT[get][id]q",
		"p_embnum":  "user.option.set?embnum=n$result[get][num]",
		"readback":  "user.option.get",
	}})
	res := batchResult(t, r)
	assert.Equal(t, []any{}, res["result_error"])
	assert.Equal(t, []any{}, res["result_total"])
	assert.Equal(t, []any{}, res["result_next"])
	assert.Contains(t, string(r.raw), `"result_error":[]`)

	opts := res["result"].(map[string]any)["readback"].(map[string]any)
	assert.Equal(t, "42", opts["copy"])
	assert.Equal(t, "id 42 x", opts["emb"])
	// Source quirk: the reference runs to the next whitespace and all of it is replaced.
	assert.Equal(t, "id-42", opts["greedy"])
	assert.Equal(t, []any{"a", "b"}, opts["arr"], "a whole-value reference is substituted as-is")
	assert.Equal(t, "x$result[get][list]", opts["embarr"], "an embedded array reference stays literal")
	// A missing step stops the walk at the deepest value found: the whole result section.
	miss, ok := opts["miss"].(map[string]any)
	require.True(t, ok, "%v", opts["miss"])
	assert.Contains(t, miss, "get")
	// The section name matches case-insensitively but is looked up as written.
	assert.Nil(t, opts["up"])
	// Embedded, only a string or a number replaces the text; a boolean or an unknown
	// section leaves it as it is.
	assert.Equal(t, "x$result[get][flag]y", opts["embbool"])
	assert.Equal(t, "p$RESULT[get][id]q", opts["embup"])
	assert.Equal(t, "n7", opts["embnum"])
	times := res["result_time"].(map[string]any)
	assert.Len(t, times, 11)
	assert.Contains(t, times["get"], "operating")
	assert.Contains(t, times["get"], "date_start")
}

func TestBatchOrderAndHalt(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	cmd := map[string]any{
		"a_first": "user.option.set?k=1",
		"b_fail":  "user.option.set",
		"c_after": "user.option.set?k=2",
	}
	// halt: execution stops after the first failing command.
	res := batchResult(t, callJSON(t, s, "batch", map[string]any{"halt": true, "cmd": cmd}))
	assert.Equal(t, map[string]any{"a_first": true}, res["result"])
	assert.Equal(t, map[string]any{"b_fail": map[string]any{
		"error": "ERROR_ARGUMENT", "error_description": "Argument 'options' is null or empty", "argument": "options",
	}}, res["result_error"])
	assert.NotContains(t, res["result_time"], "c_after")
	assert.Equal(t, "1", s.UserOptions(s.OAuthConfig().ClientID, 1)["k"])

	// No halt: everything runs.
	res = batchResult(t, callJSON(t, s, "batch", map[string]any{"halt": 0, "cmd": cmd}))
	assert.Equal(t, map[string]any{"a_first": true, "c_after": true}, res["result"])
	assert.Len(t, res["result_error"], 1)
	assert.Equal(t, "2", s.UserOptions(s.OAuthConfig().ClientID, 1)["k"])

	// Commands run in the order sent (JSON object order), so references work forward.
	body := fmt.Sprintf(`{"auth":%q,"cmd":{"z":"user.option.set?v=first","y":"user.option.get?option=v","x":"user.option.set?v=second"}}`, s.Token().AccessToken)
	r := send(t, s, http.MethodPost, s.URL+"/rest/batch", "application/json", body, nil)
	assert.Equal(t, "first", batchResult(t, r)["result"].(map[string]any)["y"])
}

func TestBatchFormEncoding(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	form := url.Values{}
	form.Set("auth", s.Token().AccessToken)
	form.Set("HALT", "false") // a non-empty string: PHP-truthy, so it halts
	body := form.Encode() +
		"&CMD[z]=" + url.QueryEscape("user.option.set?v=1") +
		"&CMD[y]=" + url.QueryEscape("user.option.set") +
		"&CMD[x]=" + url.QueryEscape("user.option.set?v=2&w="+url.QueryEscape("a&b"))
	r := send(t, s, http.MethodPost, s.URL+"/rest/batch", "application/x-www-form-urlencoded", body, nil)
	res := batchResult(t, r)
	assert.Equal(t, map[string]any{"z": true}, res["result"], "form order z, y, x; halted at y")
	assert.Contains(t, res["result_error"], "y")

	form.Set("HALT", "0")
	body = form.Encode() + "&cmd[x]=" + url.QueryEscape("user.option.set?w="+url.QueryEscape("a&b"))
	r = send(t, s, http.MethodPost, s.URL+"/rest/batch", "application/x-www-form-urlencoded", body, nil)
	batchResult(t, r)
	assert.Equal(t, "a&b", s.UserOptions(s.OAuthConfig().ClientID, 1)["w"], "double encoding in form batches")
}

func TestBatchLimitsAndForbiddenMethods(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	cmd := map[string]any{}
	for i := 0; i < 53; i++ {
		cmd[fmt.Sprintf("k%02d", i)] = "server.time"
	}
	res := batchResult(t, callJSON(t, s, "batch", map[string]any{"cmd": cmd}))
	assert.Len(t, res["result"], 50)
	errs := res["result_error"].(map[string]any)
	assert.Len(t, errs, 3)
	assert.Equal(t, map[string]any{"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"}, errs["k52"])

	// With halt, the batch stops at the first excess command.
	res = batchResult(t, callJSON(t, s, "batch", map[string]any{"halt": 1, "cmd": cmd}))
	assert.Len(t, res["result"], 50)
	assert.Len(t, res["result_error"], 1)
	assert.Contains(t, res["result_error"], "k50")

	res = batchResult(t, callJSON(t, s, "batch", map[string]any{"cmd": map[string]any{
		"b": "batch?cmd[x]=server.time", "d": "download", "u": "upload?x=1", "n": "no.such.method", "ok": "Server.Time",
	}}))
	errs = res["result_error"].(map[string]any)
	notAllowed := map[string]any{"error": "ERROR_BATCH_METHOD_NOT_ALLOWED", "error_description": "Method is not allowed for batch usage"}
	assert.Equal(t, notAllowed, errs["b"])
	assert.Equal(t, notAllowed, errs["d"])
	assert.Equal(t, notAllowed, errs["u"])
	assert.Equal(t, map[string]any{"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}, errs["n"])
	assert.Contains(t, res["result"], "ok", "method names are lower-cased")
}

func TestBatchScopeAndContext(t *testing.T) {
	t.Parallel()
	s := newSrv(t, WithScope("user"))
	res := batchResult(t, callJSON(t, s, "batch", map[string]any{"cmd": map[string]any{
		"list": "userfieldtype.list", "opt": "user.option.set?a=1",
	}}))
	assert.Equal(t, map[string]any{"error": "insufficient_scope", "error_description": ""}, res["result_error"].(map[string]any)["list"])
	assert.Equal(t, map[string]any{"opt": true}, res["result"], "user.option.* works in an app's batch")

	// Through a webhook the batch runs, the option methods fail per command.
	r := hookJSON(t, s, "batch", map[string]any{"cmd": map[string]any{"opt": "user.option.get", "t": "server.time"}})
	res = batchResult(t, r)
	assert.Equal(t, map[string]any{"error": "ACCESS_DENIED", "error_description": "Access denied! Application context required"},
		res["result_error"].(map[string]any)["opt"])
	assert.Contains(t, res["result"], "t")
}

// TestBatchListSections reproduces reference §8a: keys 0..n-1 make the sections lists.
func TestBatchListSections(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	r := callJSON(t, s, "batch", map[string]any{"cmd": []any{"user.option.set", "user.option.set?x=1", 12, "userfieldtype.list"}})
	res := batchResult(t, r)
	assert.Equal(t, []any{map[string]any{"error": "ERROR_ARGUMENT", "error_description": "Argument 'options' is null or empty", "argument": "options"}}, res["result_error"])
	// Successful keys 1 and 3 are not 0..n-1, so "result" is an object; the non-string
	// command 2 is skipped silently.
	assert.Equal(t, map[string]any{"1": true, "3": []any{}}, res["result"])
	assert.Equal(t, map[string]any{"3": float64(0)}, res["result_total"])

	r = callJSON(t, s, "batch", map[string]any{"cmd": []any{"server.time", "user.option.get?option=x"}})
	res = batchResult(t, r)
	assert.IsType(t, []any{}, res["result"])
	assert.IsType(t, []any{}, res["result_time"])
	assert.Equal(t, "1", res["result"].([]any)[1])
}

func TestBatchListNavigation(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	cmd := map[string]any{}
	for i := 0; i < 51; i++ {
		cmd[fmt.Sprintf("a%02d", i)] = fmt.Sprintf("userfieldtype.add?USER_TYPE_ID=u%d&HANDLER=https://example.com/%d", i, i)
	}
	batchResult(t, callJSON(t, s, "batch", map[string]any{"cmd": cmd}))
	requireResult(t, callJSON(t, s, "userfieldtype.add", uft("u50", "https://example.com/50")))
	res := batchResult(t, callJSON(t, s, "batch", map[string]any{"cmd": map[string]any{
		"p1": "userfieldtype.list", "p2": "userfieldtype.list?start=$next[p1]", "tot": "user.option.set?total=$total[p1]",
	}}))
	assert.Equal(t, map[string]any{"p1": float64(51), "p2": float64(51)}, res["result_total"])
	assert.Equal(t, map[string]any{"p1": float64(50)}, res["result_next"])
	assert.Len(t, res["result"].(map[string]any)["p2"], 1)
	// A whole-value reference keeps the type: the int 51, not "51".
	assert.Equal(t, float64(51), requireResult(t, callJSON(t, s, "user.option.get", map[string]any{"option": "total"})))
}

func TestBatchIsOneRequest(t *testing.T) {
	t.Parallel()
	s := newSrv(t, WithRateLimit(0.001, 2))
	cmd := map[string]any{}
	for i := 0; i < 10; i++ {
		cmd[fmt.Sprintf("c%d", i)] = "server.time"
	}
	batchResult(t, callJSON(t, s, "batch", map[string]any{"cmd": cmd}))
	requireResult(t, callJSON(t, s, "server.time", nil))
	r := callJSON(t, s, "server.time", nil)
	requireErr(t, r, 503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
	assert.Equal(t, 1, s.Requests("batch"))
	assert.Equal(t, 11, s.Calls("server.time"))
}

func TestBatchTopLevelKeysCaseInsensitive(t *testing.T) {
	t.Parallel()
	s := newSrv(t)
	res := batchResult(t, callJSON(t, s, "batch", map[string]any{"CMD": map[string]any{"a": "user.option.set", "b": "server.time"}, "Halt": 1}))
	assert.Contains(t, res["result_error"], "a")
	assert.NotContains(t, res["result"], "b")
	// No cmd at all: five empty sections.
	r := callJSON(t, s, "batch", nil)
	batchResult(t, r)
	assert.True(t, strings.Contains(string(r.raw), `"result":{"result":[],"result_error":[],"result_total":[],"result_next":[],"result_time":[]}`), "%s", r.raw)
}

// TestBatchCursorReferencesPastAShortPage: the chained cursor of an export
// ("filter[>id]=$result[p0][items][49][id]", reference §8.2) past a short page. The
// missing step [49] stops the walk at the deepest value found, the short page's items,
// which the next command receives whole as its filter value; crm.item.list reads that
// array bound as PHP's intval of an array (1) and answers rows from the start.
func TestBatchCursorReferencesPastAShortPage(t *testing.T) {
	t.Parallel()
	s := newSrv(t, WithScope("crm,user"))
	s.SeedCRMItems(2, 60)
	var got []any
	s.Handle("x.capture", func(_ context.Context, r Request) (any, error) {
		got = append(got, r.Params["v"])
		return true, nil
	})
	page := "crm.item.list?entityTypeId=2&select[0]=id&order[id]=ASC&start=-1"
	res := batchResult(t, callJSON(t, s, "batch", map[string]any{"halt": 1, "cmd": map[string]any{
		"p0": page,
		"p1": page + "&filter[>id]=$result[p0][items][49][id]",
		"p2": page + "&filter[>id]=$result[p1][items][49][id]",
		"p3": page + "&filter[<id]=$result[p2][items][49][id]",
		"p4": page + "&filter[>id]=$result[p0][items][49][ID]", // a row: intval 1
		"x1": "x.capture?v=$result[p1][items][49][id]",         // the short page's items
		"x2": "x.capture?v=$result[p0][items][49][ID]",         // the 50th row: "ID" is not its key
		"x3": "x.capture?v=$result[nope][items][49][id]",
		"x4": "x.capture?v=id-$result[p1][items][49][id]",
	}}))
	ids := func(key string) []float64 {
		var out []float64
		for _, it := range res["result"].(map[string]any)[key].(map[string]any)["items"].([]any) {
			out = append(out, it.(map[string]any)["id"].(float64))
		}
		return out
	}
	require.Len(t, ids("p0"), 50)
	assert.Equal(t, []float64{51, 52, 53, 54, 55, 56, 57, 58, 59, 60}, ids("p1"))
	require.Len(t, ids("p2"), 50, "garbage: rows from the start of the table")
	assert.Equal(t, float64(2), ids("p2")[0])
	assert.Equal(t, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50},
		ids("p3"), "p2 was full: its row 49 (id 51) is a real cursor again")
	assert.Equal(t, float64(2), ids("p4")[0], "a row substituted whole is an array: intval 1")

	require.Len(t, got, 4)
	items, ok := got[0].([]any)
	require.True(t, ok, "%T", got[0])
	require.Len(t, items, 10)
	assert.Equal(t, map[string]any{"id": json.Number("51")}, normalise(t, items[0]))
	assert.Equal(t, map[string]any{"id": json.Number("50")}, normalise(t, got[1]), "the deepest value: row 49 itself")
	section, ok := got[2].(map[string]any)
	require.True(t, ok, "a missing command: the whole result section, %T", got[2])
	assert.Contains(t, section, "p0")
	assert.Contains(t, section, "p2")
	assert.Equal(t, "id-$result[p1][items][49][id]", got[3], "embedded, an array leaves the text")
}

// normalise re-decodes v with numbers as json.Number.
func normalise(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var out any
	require.NoError(t, d.Decode(&out))
	return out
}
