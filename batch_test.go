package bitrix24_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

func setCommands(t testing.TB, c *bitrix24.Client, n int) []bitrix24.BatchCommand {
	t.Helper()
	cmds := make([]bitrix24.BatchCommand, n)
	for i := range cmds {
		cmd, err := c.UserOption.SetCommand(fmt.Sprintf("set%03d", i), map[string]any{fmt.Sprintf("opt%03d", i): fmt.Sprint(i)})
		require.NoError(t, err)
		cmds[i] = cmd
	}
	return cmds
}

func TestBatch120CommandsIn3Requests(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	res, err := c.Batch(context.Background(), false, setCommands(t, c, 120)...)
	require.NoError(t, err)
	assert.Len(t, res.Results, 120)
	assert.Empty(t, res.Errors)
	assert.Empty(t, res.Skipped)
	assert.Equal(t, 3, srv.Requests("batch"))
	assert.JSONEq(t, "true", string(res.Results["set119"]))
	assert.Len(t, srv.UserOptions(srv.OAuthConfig().ClientID, 1), 120)
}

func TestBatch500OptionsTake10Requests(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	res, err := c.Batch(context.Background(), true, setCommands(t, c, 500)...)
	require.NoError(t, err)
	assert.Len(t, res.Results, 500)
	assert.Equal(t, 10, srv.Requests(""), "500 writes, 10 requests")
}

func TestBatchOrderAndKeysAreKept(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	// The same option written by three commands: the last one in order wins.
	var cmds []bitrix24.BatchCommand
	for _, k := range []string{"z", "a", "m"} {
		cmd, err := c.UserOption.SetCommand(k, map[string]any{"winner": k})
		require.NoError(t, err)
		cmds = append(cmds, cmd)
	}
	_, err := c.Batch(context.Background(), false, cmds...)
	require.NoError(t, err)
	assert.Equal(t, "m", srv.UserOptions(srv.OAuthConfig().ClientID, 1)["winner"])
}

func TestBatchMixedSuccessAndFailure(t *testing.T) {
	t.Parallel()
	c, _ := newPortal(t, nil)
	ok, err := c.UserOption.SetCommand("ok", map[string]any{"a": "1"})
	require.NoError(t, err)
	missing, err := c.UserFieldType.DeleteCommand("missing", "nosuchtype")
	require.NoError(t, err)
	get, err := c.UserOption.GetCommand("get", "a")
	require.NoError(t, err)
	res, err := c.Batch(context.Background(), false, ok, missing, get,
		bitrix24.BatchCommand{Key: "nomethod", Method: "no.such.method"})
	require.NoError(t, err)
	assert.JSONEq(t, `"1"`, string(res.Results["get"]), "form-encoded values arrive as strings")
	require.Contains(t, res.Errors, "missing")
	assert.ErrorIs(t, res.Errors["missing"], bitrix24.ErrNotFound)
	assert.Equal(t, "userfieldtype.delete", res.Errors["missing"].Method)
	assert.Equal(t, 200, res.Errors["missing"].StatusCode)
	assert.ErrorIs(t, res.Errors["nomethod"], bitrix24.ErrMethodNotFound)
	assert.Contains(t, res.Times, "ok")
	assert.False(t, res.Times["ok"].Start.IsZero())
}

func TestBatchHaltWithinAndAcrossChunks(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	cmds := setCommands(t, c, 120)
	cmds[10] = bitrix24.BatchCommand{Key: cmds[10].Key, Method: "userfieldtype.delete", Params: map[string]string{"USER_TYPE_ID": "nosuchtype"}}
	res, err := c.Batch(context.Background(), true, cmds...)
	require.NoError(t, err)
	assert.Len(t, res.Results, 10, "commands before the failure ran")
	assert.Len(t, res.Errors, 1)
	assert.Len(t, res.Skipped, 109, "the rest of the chunk and the later chunks never ran")
	assert.Equal(t, "set011", res.Skipped[0])
	assert.Equal(t, "set119", res.Skipped[108])
	assert.Equal(t, 1, srv.Requests("batch"), "no chunk is sent after a failed one")

	// Without halt every chunk runs.
	res, err = c.Batch(context.Background(), false, cmds...)
	require.NoError(t, err)
	assert.Len(t, res.Results, 119)
	assert.Len(t, res.Errors, 1)
	assert.Equal(t, 4, srv.Requests("batch"))
}

func TestBatchReferences(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	set, err := c.UserOption.SetCommand("set", map[string]any{"source": "hello & = [x] % + # мир"})
	require.NoError(t, err)
	res, err := c.Batch(context.Background(), true,
		set,
		bitrix24.BatchCommand{Key: "get", Method: "user.option.get", Params: map[string]any{"option": "source"}},
		bitrix24.BatchCommand{Key: "copy", Method: "user.option.set", Params: map[string]any{"options": map[string]any{"copy": "$result[get]"}}},
	)
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	assert.Equal(t, "hello & = [x] % + # мир", srv.UserOptions(srv.OAuthConfig().ClientID, 1)["copy"],
		"the reference was left intact for the server, and special characters survived")
}

func TestBatchMethodsNotAllowed(t *testing.T) {
	t.Parallel()
	c, _ := newPortal(t, nil)
	res, err := c.Batch(context.Background(), false,
		bitrix24.BatchCommand{Key: "nested", Method: "batch", Params: map[string]any{"cmd": map[string]string{"a": "server.time"}}},
		bitrix24.BatchCommand{Key: "ok", Method: "server.time"})
	require.NoError(t, err)
	assert.ErrorIs(t, res.Errors["nested"], bitrix24.ErrBatchMethodNotAllowed)
	assert.Contains(t, res.Results, "ok")
}

func TestBatchListResultsAndNumericKeys(t *testing.T) {
	t.Parallel()
	c, _ := newPortal(t, nil)
	for i := 0; i < 60; i++ {
		require.NoError(t, c.UserFieldType.Add(context.Background(), bitrix24.UserFieldType{
			UserTypeID: fmt.Sprintf("t%d", i), Handler: fmt.Sprintf("https://app.example.com/%d", i), Title: "T"}))
	}
	// Keys 0..n-1 make PHP send the sections as JSON lists: they must still decode.
	res, err := c.Batch(context.Background(), false,
		bitrix24.BatchCommand{Key: "0", Method: "userfieldtype.list"},
		bitrix24.BatchCommand{Key: "1", Method: "userfieldtype.delete", Params: map[string]string{"USER_TYPE_ID": "nosuchtype"}},
	)
	require.NoError(t, err)
	var page []map[string]any
	require.NoError(t, json.Unmarshal(res.Results["0"], &page))
	assert.Len(t, page, 50)
	assert.Equal(t, 60, res.Totals["0"])
	assert.Equal(t, 50, res.Nexts["0"])
	assert.ErrorIs(t, res.Errors["1"], bitrix24.ErrNotFound)
}

func TestBatchBodyIsOrderedAndEncoded(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	_, err := c.Batch(context.Background(), true,
		// Numbers and booleans are sent as the server reads them (app.option.set would
		// store them as strings, so Batch refuses them there: see TestBatchRefusesWhatAQueryLoses).
		bitrix24.BatchCommand{Key: "b", Method: "userfieldtype.list", Params: map[string]any{"options": map[string]any{"list": []any{1, true, "x y"}, "n": 1.5}}},
		bitrix24.BatchCommand{Key: "a", Method: "server.time"},
	)
	require.NoError(t, err)
	last, ok := srv.LastRequest("batch")
	require.True(t, ok)
	body := string(last.Body)
	require.Less(t, strings.Index(body, `"b"`), strings.Index(body, `"a"`), "commands in the order given: %s", body)
	var sent struct {
		Halt int               `json:"halt"`
		Cmd  map[string]string `json:"cmd"`
	}
	require.NoError(t, json.Unmarshal(last.Body, &sent))
	assert.Equal(t, 1, sent.Halt)
	assert.Equal(t, "server.time", sent.Cmd["a"])
	method, query, _ := strings.Cut(sent.Cmd["b"], "?")
	assert.Equal(t, "userfieldtype.list", method)
	values, err := url.ParseQuery(query)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"options[list][0]": {"1"}, "options[list][1]": {"1"}, "options[list][2]": {"x y"}, "options[n]": {"1.5"}}, values)
}

func TestBatchValidationAndHelpers(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	ctx := context.Background()
	_, err := c.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "x", Params: []int{1}})
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	_, err = c.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "x", Params: map[string]any{"a[b]": 1}})
	require.ErrorIs(t, err, bitrix24.ErrValidation, "a bracket in a key would be re-parsed by PHP")
	_, err = c.UserOption.SetCommand("a", nil)
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	_, err = c.UserFieldType.UpdateCommand("a", bitrix24.UserFieldType{UserTypeID: "Bad"})
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	_, err = c.UserFieldType.AddCommand("a", bitrix24.UserFieldType{UserTypeID: "ok", Handler: "nope", Title: "x"})
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	assert.Zero(t, srv.Requests(""), "nothing was sent")

	add, err := c.UserFieldType.AddCommand("add", bitrix24.UserFieldType{UserTypeID: "viabatch", Handler: "https://app.example.com/b", Title: "B", Height: 40})
	require.NoError(t, err)
	upd, err := c.UserFieldType.UpdateCommand("upd", bitrix24.UserFieldType{UserTypeID: "viabatch", Handler: "https://app.example.com/b2", Title: "B2"})
	require.NoError(t, err)
	res, err := c.Batch(ctx, true, add, upd)
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	types, err := c.UserFieldType.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, []bitrix24.UserFieldType{{UserTypeID: "viabatch", Handler: "https://app.example.com/b2", Title: "B2"}}, types)
}

// ERROR_BATCH_LENGTH_EXCEEDED cannot happen through our API: 51+ commands are chunked.
func TestBatchNeverExceedsServerLength(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	for _, n := range []int{1, 49, 50, 51, 100, 101} {
		res, err := c.Batch(context.Background(), true, setCommands(t, c, n)...)
		require.NoError(t, err)
		for _, e := range res.Errors {
			require.NotErrorIs(t, e, bitrix24.ErrBatchLengthExceeded)
		}
		assert.Len(t, res.Results, n)
	}
	assert.Equal(t, 1+1+1+2+2+3, srv.Requests("batch"))
}

func TestBatchRetriesOnlyRefusals(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	srv.InjectFault("batch", 2, bitrix24test.FaultError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"))
	_, err := c.Batch(context.Background(), false, setCommands(t, c, 3)...)
	require.NoError(t, err, "refused before it ran: retried")
	assert.Equal(t, 3, srv.Requests("batch"))

	srv.InjectFault("batch", 1, bitrix24test.FaultHTML(502))
	_, err = c.Batch(context.Background(), false, setCommands(t, c, 3)...)
	require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse, "may have run: not retried")
	assert.Equal(t, 4, srv.Requests("batch"))
}

// FuzzBatchParams round-trips random nested parameters through our encoder and the fake
// portal's decoder: what user.option.get reads back is what was sent, as PHP sees it.
func FuzzBatchParams(f *testing.F) {
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0))
	f.Cleanup(srv.Close)
	c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithRateLimit(0, 0))
	require.NoError(f, err)
	f.Add("key", "value", "sub", 3, true)
	f.Add("k&=", "a&b=c[d]%20+#", "ключ", -7, false)
	f.Add("emoji😀", "мир & мир", "0", 0, true)
	f.Fuzz(func(t *testing.T, key, value, sub string, n int, flag bool) {
		if key == "" || sub == "" || strings.ContainsAny(key+sub, "[]\x00") || strings.TrimSpace(sub) == "" ||
			strings.TrimSpace(key) != key || strings.ContainsAny(key, ". ") || !isPrintable(key) || !isPrintable(sub) || !isPrintable(value) ||
			strings.Contains(value, "$") { // "$" may start a reference, which the server substitutes
			t.Skip()
		}
		options := map[string]any{key: map[string]any{sub: value, "n": n, "flag": flag, "list": []any{value, n}}}
		// A raw command: SetCommand refuses the numbers and booleans this fuzzes.
		cmd := bitrix24.BatchCommand{Key: "set", Method: "user.option.set", Params: map[string]any{"options": options}}
		res, err := c.Batch(context.Background(), true, cmd)
		if err != nil {
			t.Skip() // an encoding PHP would reject is reported as a validation error
		}
		require.Empty(t, res.Errors)
		var got map[string]any
		found, err := c.UserOption.Get(context.Background(), key, &got)
		require.NoError(t, err)
		require.True(t, found)
		flagText := "0"
		if flag {
			flagText = "1"
		}
		want := map[string]any{sub: value, "n": fmt.Sprint(n), "flag": flagText, "list": []any{value, fmt.Sprint(n)}}
		if sub == "n" || sub == "flag" || sub == "list" {
			t.Skip()
		}
		if sub == "0" || sub == "1" {
			t.Skip() // numeric keys turn maps into lists, as in PHP
		}
		require.Equal(t, want, got)
	})
}

func isPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false // encoding/json would send U+FFFD instead
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}
