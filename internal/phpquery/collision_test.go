package phpquery

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// PHP renames '.' and ' ' in top-level names to '_' and trims leading spaces, then keeps
// the last of two equal names: such pairs are refused, naming both keys.
func TestEncodeValuesRefusesKeysPHPMerges(t *testing.T) {
	t.Parallel()
	for _, keys := range [][2]string{
		{"ui.theme", "ui_theme"},
		{"ui theme", "ui_theme"},
		{"ui theme", "ui.theme"},
		{" a", "a"},
		{"a.b c", "a_b.c"},
	} {
		obj := map[string]any{keys[0]: "1", keys[1]: map[string]any{"x": "2"}}
		got, err := EncodeValues(obj)
		require.Error(t, err, "%q", keys)
		assert.Empty(t, got)
		assert.Contains(t, err.Error(), `"`+keys[0]+`"`)
		assert.Contains(t, err.Error(), `"`+keys[1]+`"`)
		// Without the refusal PHP would indeed have merged them.
		one, err := EncodeValues(map[string]any{keys[0]: "1"})
		require.NoError(t, err)
		two, err := EncodeValues(map[string]any{keys[1]: "2"})
		require.NoError(t, err)
		assert.Len(t, Parse(one+"&"+two), 1, "%q", keys)
	}
	// Renamed keys that stay distinct, and nested keys, which PHP keeps verbatim.
	got, err := EncodeValues(map[string]any{"a.b": "1", "a_c": "2", "n": map[string]any{"x.y": "3", "x_y": "4"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"a_b": "1", "a_c": "2", "n": map[string]any{"x.y": "3", "x_y": "4"}}, Parse(got))
}

// Errors reach users of the SDK as they are: they must not name this internal package.
func TestErrorsDoNotNameThePackage(t *testing.T) {
	t.Parallel()
	for _, params := range []any{
		map[string]any{"ch": make(chan int)},
		[]any{"a"},
		map[string]any{"a[b": "1"},
		map[string]any{"a": map[string]any{"b]": "1"}},
		map[string]any{"a.b": "1", "a_b": "2"},
	} {
		_, err := Encode(params)
		require.Error(t, err)
		assert.False(t, strings.Contains(err.Error(), "phpquery"), err.Error())
	}
	_, err := EncodeValues(map[string]any{"a": make(chan int)})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "phpquery")
}
