package bitrix24_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// Batch refuses what a command's query string would lose or change, before anything is
// sent: non-strings in option.set commands (as SetCommand does), nil and empty
// containers in any command, and more pairs than the server's max_input_vars.
func TestBatchRefusesWhatAQueryLoses(t *testing.T) {
	t.Parallel()
	c, srv := newPortal(t, nil)
	ctx := context.Background()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	for name, cmd := range map[string]bitrix24.BatchCommand{
		"number in user.option.set": {Key: "a", Method: "user.option.set", Params: map[string]any{"options": map[string]any{"n": 5}}},
		"bool in app.option.set":    {Key: "a", Method: "APP.OPTION.SET", Params: map[string]any{"options": map[string]any{"b": true}}},
		"empty list":                {Key: "a", Method: "user.option.set", Params: map[string]any{"options": map[string]any{"s": "x", "e": []any{}}}},
		"null":                      {Key: "a", Method: "crm.item.list", Params: map[string]any{"filter": map[string]any{"x": nil}}},
		"empty map":                 {Key: "a", Method: "crm.item.list", Params: map[string]any{"filter": map[string]any{}}},
		"nil in a list":             {Key: "a", Method: "crm.item.list", Params: map[string]any{"select": []any{"ID", nil}}},
		"over max_input_vars":       {Key: "a", Method: "crm.item.list", Params: map[string]any{"entityTypeId": "2", "filter": map[string]any{"@id": ids}}},
	} {
		_, err := c.Batch(ctx, false, cmd)
		require.ErrorIs(t, err, bitrix24.ErrValidation, name)
		assert.Contains(t, err.Error(), "cmds[0].Params", name)
	}
	assert.Zero(t, srv.Requests(""), "nothing was sent")

	// What the server reads as sent passes: numbers and booleans for other methods, and
	// exactly 1000 pairs.
	_, err := c.Batch(ctx, false,
		bitrix24.BatchCommand{Key: "a", Method: "userfieldtype.list", Params: map[string]any{"start": 0, "flag": true}},
		bitrix24.BatchCommand{Key: "b", Method: "userfieldtype.list", Params: map[string]any{"filter": map[string]any{"@id": ids[1:]}, "x": "y"}},
		bitrix24.BatchCommand{Key: "c", Method: "user.option.set", Params: map[string]any{"options": map[string]any{"s": "5"}}},
	)
	require.NoError(t, err)
}
