package bitrix24_test

// Regression tests of issue 10, "refused before anything is sent": each bad input fails
// with ErrValidation and the fake portal receives no request at all.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// requireRefused asserts err is a validation error and that srv saw no request.
func requireRefused(t *testing.T, srv *bitrix24test.Server, err error, msgAndArgs ...any) *bitrix24.ValidationError {
	t.Helper()
	require.ErrorIs(t, err, bitrix24.ErrValidation, msgAndArgs...)
	var ve *bitrix24.ValidationError
	require.True(t, errors.As(err, &ve), msgAndArgs...)
	require.Zero(t, srv.Requests(""), "nothing may be sent")
	return ve
}

// Issue 10 item 13: "." and ".." are path segments a resolver folds away.
func TestMethodNamesThatChangeThePathAreRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil)
	for _, m := range []string{".", "..", "a..b", "a/..", "../server.time", ".server.time", "server.time.", "a/b", "server.time/"} {
		requireRefused(t, srv, c.Call(ctx, m, nil, nil), m)
		_, err := c.Batch(ctx, false, bitrix24.BatchCommand{Key: "k", Method: m})
		requireRefused(t, srv, err, m)
	}
	require.NoError(t, c.Call(ctx, "server.time", nil, nil), "a good name still passes")
	assert.Equal(t, 1, srv.Requests(""))
}

// Issue 10 item 14: the destination is checked before the call runs, not after.
func TestResultThatIsNotANonNilPointerIsRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil)
	var m map[string]any
	var nilPtr *map[string]any
	for name, dst := range map[string]any{
		"map value":   m,
		"struct":      struct{ ID int }{},
		"typed nil":   nilPtr,
		"int":         42,
		"string":      "x",
		"slice value": []int{},
	} {
		ve := requireRefused(t, srv, c.Call(ctx, "crm.item.add", map[string]any{"entityTypeId": 2}, dst), name)
		assert.Equal(t, "result", ve.Field, name)
		_, err := c.UserOption.Get(ctx, "theme", dst)
		ve = requireRefused(t, srv, err, name)
		assert.Equal(t, "dst", ve.Field, name)
	}
	// nil and a non-nil pointer are fine.
	require.NoError(t, c.Call(ctx, "server.time", nil, nil))
	var now string
	require.NoError(t, c.Call(ctx, "server.time", nil, &now))
	assert.NotEmpty(t, now)
}

// Issue 10 item 15: PHP renames '.' and ' ' in top-level names to '_' (and trims leading
// spaces), so two keys may reach it as one and a value is lost without a word.
func TestBatchParamsThatPHPMergesAreRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil)
	for _, pair := range [][2]string{{"ui.theme", "ui_theme"}, {"ui theme", "ui.theme"}, {" a", "a"}} {
		_, err := c.Batch(ctx, false,
			bitrix24.BatchCommand{Key: "ok", Method: "server.time"},
			bitrix24.BatchCommand{Key: "set", Method: "app.option.set", Params: map[string]any{pair[0]: "1", pair[1]: "2"}})
		ve := requireRefused(t, srv, err, pair)
		assert.Equal(t, "cmds[1].Params", ve.Field)
		assert.Contains(t, ve.Rule, fmt.Sprintf("%q", pair[0]))
		assert.Contains(t, ve.Rule, fmt.Sprintf("%q", pair[1]))
	}
	// One renamed key alone is what PHP reads as "ui_theme": sent, stored under that name.
	_, err := c.Batch(ctx, true, bitrix24.BatchCommand{Key: "set", Method: "user.option.set", Params: map[string]any{"ui.theme": "dark"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"ui_theme": "dark"}, srv.UserOptions(srv.OAuthConfig().ClientID, 1))
}

// Issue 10 item 16: a reference to a command of an earlier chunk of 50 would resolve
// against another request's results (the server substitutes the whole section), so it
// is refused; references within one chunk keep working.
func TestBatchReferencesAcrossChunksAreRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil)
	require.NoError(t, c.UserOption.Set(ctx, map[string]any{"theme": "dark"}))
	before := srv.Requests("")

	cmds := []bitrix24.BatchCommand{{Key: "get", Method: "user.option.get", Params: map[string]string{"option": "theme"}}}
	for i := 1; i < bitrix24.MaxBatchCommands-1; i++ {
		cmds = append(cmds, bitrix24.BatchCommand{Key: fmt.Sprintf("t%02d", i), Method: "server.time"})
	}
	// Command 49, the last of the first chunk, refers to command 0: same chunk, resolved.
	cmds = append(cmds, bitrix24.BatchCommand{Key: "copy", Method: "user.option.set",
		Params: map[string]any{"options": map[string]any{"copy": "$result[get]", "text": "theme is $result[get] now"}}})
	require.Len(t, cmds, bitrix24.MaxBatchCommands)
	res, err := c.Batch(ctx, true, cmds...)
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	opts := srv.UserOptions(srv.OAuthConfig().ClientID, 1)
	assert.Equal(t, "dark", opts["copy"])
	assert.Equal(t, "theme is dark now", opts["text"])

	for _, ref := range []string{"$result[get]", "$RESULT[get][0]", "x $result_error[get] y", "$time[get][start]", "$next[get]"} {
		late := append(cmds[:len(cmds):len(cmds)], bitrix24.BatchCommand{Key: "late", Method: "user.option.set",
			Params: map[string]any{"options": map[string]any{"late": ref}}})
		sent := srv.Requests("")
		_, err := c.Batch(ctx, true, late...)
		require.ErrorIs(t, err, bitrix24.ErrValidation, ref)
		var ve *bitrix24.ValidationError
		require.True(t, errors.As(err, &ve))
		assert.Equal(t, "cmds[50].Params", ve.Field)
		assert.Contains(t, ve.Rule, `"get"`)
		assert.Contains(t, ve.Rule, "earlier chunk")
		assert.Equal(t, sent, srv.Requests(""), "nothing sent, not even the first chunk")
	}

	// A reference to a later command, or to the command itself, cannot resolve either.
	_, err = c.Batch(ctx, false,
		bitrix24.BatchCommand{Key: "a", Method: "app.option.set", Params: map[string]any{"x": "$result[b]"}},
		bitrix24.BatchCommand{Key: "b", Method: "server.time"})
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	_, err = c.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "app.option.set", Params: map[string]any{"x": "$result[a]"}})
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	// Text that names no command of the call is left alone.
	_, err = c.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "user.option.set",
		Params: map[string]any{"options": map[string]any{"price": "US$5", "note": "$resultless"}}})
	require.NoError(t, err)
	assert.Equal(t, before+2, srv.Requests(""))
}

// Issue 10 item 17: a batch command is a query string, so SetCommand refuses values whose
// type the server would not keep, naming the key and pointing to Set.
func TestSetCommandRefusesValuesAQueryStringChanges(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	for name, tc := range map[string]struct {
		value any
		field string
	}{
		"int":             {42, `options["k"]`},
		"float":           {1.5, `options["k"]`},
		"true":            {true, `options["k"]`},
		"false":           {false, `options["k"]`},
		"nil":             {nil, `options["k"]`},
		"empty list":      {[]string{}, `options["k"]`},
		"nil slice":       {[]string(nil), `options["k"]`},
		"empty map":       {map[string]any{}, `options["k"]`},
		"nested number":   {map[string]any{"a": "x", "n": 7}, `options["k"]["n"]`},
		"number in list":  {[]any{"a", 2}, `options["k"][1]`},
		"nil in list":     {[]any{nil, "x"}, `options["k"][0]`},
		"struct with int": {struct{ N int }{3}, `options["k"]["N"]`},
	} {
		_, err := c.UserOption.SetCommand("set", map[string]any{"ok": "fine", "k": tc.value})
		require.ErrorIs(t, err, bitrix24.ErrValidation, name)
		var ve *bitrix24.ValidationError
		require.True(t, errors.As(err, &ve), name)
		assert.Equal(t, tc.field, ve.Field, name)
		assert.Contains(t, err.Error(), "UserOption.Set", name)
	}
	// Values JSON cannot encode fail in SetCommand, not later in Batch.
	for name, v := range map[string]any{"chan": make(chan int), "func": func() {}, "NaN": math.NaN(), "Inf": math.Inf(-1)} {
		_, err := c.UserOption.SetCommand("set", map[string]any{"bad": v})
		require.ErrorIs(t, err, bitrix24.ErrValidation, name)
		assert.Contains(t, err.Error(), `options["bad"]`, name)
	}
	// No internal package name in any error a batch can give.
	for _, params := range []any{map[string]any{"a[b": "1"}, map[string]any{"a": map[string]any{"]": "1"}}, []int{1},
		map[string]any{"ch": make(chan int)}, map[string]any{"a.b": "1", "a_b": "1"}} {
		_, err := c.Batch(context.Background(), false, bitrix24.BatchCommand{Key: "k", Method: "app.option.set", Params: params})
		require.ErrorIs(t, err, bitrix24.ErrValidation)
		assert.NotContains(t, err.Error(), "phpquery")
	}
	_, err := c.UserOption.SetCommand("set", map[string]any{"k[": "x"})
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	assert.NotContains(t, err.Error(), "phpquery")

	_, err = c.UserOption.GetCommand("k", "")
	var ve *bitrix24.ValidationError
	require.True(t, errors.As(err, &ve))
	assert.Equal(t, "option", ve.Field)
	assert.Zero(t, srv.Requests(""))

	// Strings, and non-empty objects and lists of strings, come back as they were sent.
	value := map[string]any{"s": "1", "list": []any{"a", "b"}, "obj": map[string]any{"x": "y"}, "empty": ""}
	set, err := c.UserOption.SetCommand("set", map[string]any{"v": value})
	require.NoError(t, err)
	_, err = c.Batch(context.Background(), true, set)
	require.NoError(t, err)
	var got map[string]any
	found, err := c.UserOption.Get(context.Background(), "v", &got)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, value, got)
}

// Issue 10 item 18: a Client no constructor built answers ErrValidation everywhere.
func TestZeroClientAnswersValidationErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var zero bitrix24.Client
	ft := bitrix24.UserFieldType{UserTypeID: "x", Handler: "https://a.example/", Title: "x"}
	var s string
	errs := map[string]error{
		"Call": zero.Call(ctx, "server.time", nil, nil),
		"Set":  zero.UserOption.Set(ctx, map[string]any{"a": "1"}),
		"Add":  zero.UserFieldType.Add(ctx, ft),
		"Upd":  zero.UserFieldType.Update(ctx, ft),
		"Del":  zero.UserFieldType.Delete(ctx, "x"),
		"Batch": func() error {
			_, err := zero.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "server.time"})
			return err
		}(),
		"Get":  func() error { _, err := zero.UserOption.Get(ctx, "a", &s); return err }(),
		"All":  func() error { _, err := zero.UserOption.GetAll(ctx); return err }(),
		"List": func() error { _, err := zero.UserFieldType.List(ctx); return err }(),
	}
	var nilClient *bitrix24.Client
	errs["nil Call"] = nilClient.Call(ctx, "server.time", nil, nil)
	_, errs["nil Batch"] = nilClient.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "server.time"})
	for name, err := range errs {
		require.ErrorIs(t, err, bitrix24.ErrValidation, name)
		assert.Contains(t, err.Error(), "NewOAuthClient", name)
	}
	// The command builders need no client.
	_, err := zero.UserOption.GetCommand("k", "theme")
	require.NoError(t, err)
	assert.Equal(t, "bitrix24.Client(unconfigured)", zero.String())
	assert.Equal(t, bitrix24.Token{}, zero.Token())
}

// Issue 10 item 19: the REST base, the shape of Token.ClientEndpoint, is accepted as
// PortalURL; any other path, a query or a fragment is not.
func TestPortalURLMayBeTheRESTBase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0))
	t.Cleanup(srv.Close)
	for _, portal := range []string{srv.URL, srv.URL + "/", srv.URL + "/rest/", srv.URL + "/rest"} {
		cfg := srv.OAuthConfig()
		cfg.PortalURL = portal
		c, err := bitrix24.NewOAuthClient(cfg, bitrix24.WithHTTPClient(srv.Client()))
		require.NoError(t, err, portal)
		require.NoError(t, c.Call(ctx, "server.time", nil, nil), portal)
		last, ok := srv.LastRequest("server.time")
		require.True(t, ok)
		assert.Equal(t, "/rest/server.time", last.Path, portal)
	}
	for _, portal := range []string{srv.URL + "/rest/rest/", srv.URL + "/other/", srv.URL + "/rest/1/", srv.URL + "/?a=1",
		srv.URL + "/rest/?a=1", srv.URL + "/rest/?", srv.URL + "/#top", srv.URL + "/rest/#x"} {
		cfg := srv.OAuthConfig()
		cfg.PortalURL = portal
		_, err := bitrix24.NewOAuthClient(cfg, bitrix24.WithHTTPClient(srv.Client()))
		require.ErrorIs(t, err, bitrix24.ErrValidation, portal)
	}
}

// typedNilLimiter is a Limiter whose nil pointer would panic on the first call.
type typedNilLimiter struct{ n int }

func (l *typedNilLimiter) Wait(context.Context) error { l.n++; return nil }

// Issue 10 item 20: options that would silently misbehave are refused.
func TestBadOptionsAreRefused(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]bitrix24.Option{
		"WithLimiter(nil)":       bitrix24.WithLimiter(nil),
		"WithLimiter(typed nil)": bitrix24.WithLimiter((*typedNilLimiter)(nil)),
		"WithRetry(min > max)":   bitrix24.WithRetry(3, 2*time.Second, time.Second),
		"WithRetry(negative)":    bitrix24.WithRetry(-1, 0, 0),
		"WithRateLimit(NaN)":     bitrix24.WithRateLimit(math.NaN(), 10),
		"WithRateLimit(+Inf)":    bitrix24.WithRateLimit(math.Inf(1), 10),
		"WithRateLimit(-Inf)":    bitrix24.WithRateLimit(math.Inf(-1), 10),
		"WithRateLimit(-1)":      bitrix24.WithRateLimit(-1, 10),
		"WithRateLimit(burst 0)": bitrix24.WithRateLimit(2, 0),
		"WithRateLimit(burst<0)": bitrix24.WithRateLimit(2, -1),
	} {
		_, err := bitrix24.NewWebhookClient(testWebhook, opt)
		require.ErrorIs(t, err, bitrix24.ErrValidation, name)
		_, err = bitrix24.NewOAuthClient(testOAuthConfig(), opt)
		require.ErrorIs(t, err, bitrix24.ErrValidation, name)
	}
	for name, opt := range map[string]bitrix24.Option{
		"WithRateLimit(0, 0) turns pacing off": bitrix24.WithRateLimit(0, 0),
		"WithRetry(min == max)":                bitrix24.WithRetry(3, time.Second, time.Second),
		"WithLimiter(non-nil)":                 bitrix24.WithLimiter(&typedNilLimiter{}),
	} {
		_, err := bitrix24.NewWebhookClient(testWebhook, opt)
		require.NoError(t, err, name)
	}
}

// Issue 10 item 21: handler URLs are checked as the server checks them (reference §6.2):
// the client refuses exactly what the fake portal refuses, before sending.
func TestHandlerURLsTheServerRefusesAreNotSent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newPortal(t, nil)
	refused := []string{
		"HTTPS://app.example.com/uf", "Https://app.example.com/uf", "hTTp://app.example.com/uf",
		"https://localhost/uf", "https://localhost:8443/uf", "http://app/uf", "https://.example.com/uf",
		"https://[::1]/uf", "ftp://app.example.com/uf", "app.example.com/uf", "https:///uf",
	}
	for i, h := range refused {
		ft := bitrix24.UserFieldType{UserTypeID: fmt.Sprintf("bad%d", i), Handler: h, Title: "x"}
		ve := requireRefused(t, srv, c.UserFieldType.Add(ctx, ft), h)
		assert.Equal(t, "UserFieldType.Handler", ve.Field, h)
		requireRefused(t, srv, c.UserFieldType.Update(ctx, ft), h)
		_, err := c.UserFieldType.AddCommand("a", ft)
		require.ErrorIs(t, err, bitrix24.ErrValidation, h)
		_, err = c.UserFieldType.UpdateCommand("a", ft)
		require.ErrorIs(t, err, bitrix24.ErrValidation, h)
	}
	assert.Contains(t, c.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: "a", Handler: "HTTPS://a.example/", Title: "x"}).Error(),
		"lower case")
	assert.Contains(t, c.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: "a", Handler: "https://localhost/", Title: "x"}).Error(),
		"dot")

	// The server agrees: sent raw through Call, each is refused with its handler error.
	for i, h := range refused[:8] {
		err := c.Call(ctx, "userfieldtype.add", map[string]any{"USER_TYPE_ID": fmt.Sprintf("raw%d", i), "HANDLER": h, "TITLE": "x"}, nil)
		require.ErrorIs(t, err, bitrix24.ErrWrongHandlerURL, h)
	}
	// And what the client accepts, the server stores.
	for i, h := range []string{"https://app.example.com/uf", "http://a.b:8080/uf?x=1", "https://127.0.0.1/uf", "https://xn--80ak6aa92e.com/uf", "https://localhost./uf"} {
		require.NoError(t, c.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: fmt.Sprintf("ok%d", i), Handler: h, Title: "x"}), h)
	}
}

// Issue 10 item 26: Add fails with ErrCore when this application already bound the same
// handler URL, as its documentation says.
func TestAddWithAHandlerAlreadyBoundFailsWithErrCore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := newPortal(t, nil)
	require.NoError(t, c.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: "first", Handler: "https://app.example.com/uf", Title: "x"}))
	err := c.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: "second", Handler: "https://app.example.com/uf", Title: "y"})
	require.ErrorIs(t, err, bitrix24.ErrCore)
	var apiErr *bitrix24.APIError
	require.True(t, errors.As(err, &apiErr))
	assert.True(t, strings.Contains(apiErr.Description, "Handler already binded"), apiErr.Description)
}
