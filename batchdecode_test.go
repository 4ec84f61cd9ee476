package bitrix24_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

func TestBatchResultDecode(t *testing.T) {
	t.Parallel()
	r := &bitrix24.BatchResult{
		Results: map[string]json.RawMessage{
			"opts":  json.RawMessage(`[]`),
			"list":  json.RawMessage(`[]`),
			"items": json.RawMessage(`{"items":[{"id":"7"}]}`),
			"one":   json.RawMessage(`{"a":1}`),
		},
		Errors:  map[string]*bitrix24.APIError{"bad": {Code: "ERROR_NOT_FOUND", Description: "Not found", Method: "crm.deal.get"}},
		Skipped: []string{"later"},
	}

	opts := map[string]string{"stale": "x"}
	require.NoError(t, r.Decode("opts", &opts))
	assert.Empty(t, opts, "PHP's [] is an empty map")
	assert.NotNil(t, opts)

	var st struct{ A int }
	require.NoError(t, r.Decode("opts", &st), "[] into a struct")
	var list []int
	require.NoError(t, r.Decode("list", &list))
	assert.Empty(t, list)

	var items struct {
		Items []struct {
			ID bitrix24.ID `json:"id"`
		} `json:"items"`
	}
	require.NoError(t, r.Decode("items", &items))
	assert.Equal(t, bitrix24.ID(7), items.Items[0].ID)

	require.NoError(t, r.Decode("one", &st))
	assert.Equal(t, 1, st.A)

	assert.ErrorIs(t, r.Decode("bad", &st), bitrix24.ErrNotFound)
	assert.ErrorContains(t, r.Decode("later", &st), "did not run")
	assert.ErrorContains(t, r.Decode("nope", &st), "no result")
	assert.ErrorIs(t, r.Decode("one", st), bitrix24.ErrValidation)
	assert.ErrorIs(t, r.Decode("one", nil), bitrix24.ErrValidation)
	var wrong []string
	assert.Error(t, r.Decode("one", &wrong))
}

func TestBatchResultDecodeAgainstThePortal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := newPortal(t, nil)
	res, err := c.Batch(ctx, false,
		bitrix24.BatchCommand{Key: "all", Method: "user.option.get"},
		bitrix24.BatchCommand{Key: "types", Method: "userfieldtype.list"})
	require.NoError(t, err)
	var all map[string]json.RawMessage
	require.NoError(t, res.Decode("all", &all))
	assert.Empty(t, all)
	var types []map[string]any
	require.NoError(t, res.Decode("types", &types))
	assert.Empty(t, types)
}
