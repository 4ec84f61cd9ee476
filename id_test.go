package bitrix24_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

func TestIDDecodesNumbersAndStrings(t *testing.T) {
	for in, want := range map[string]bitrix24.ID{
		`42`: 42, `"42"`: 42, `" 7 "`: 7, `""`: 0, `null`: 0, `0`: 0, `-3`: -3, `"9007199254740993"`: 9007199254740993,
	} {
		var id bitrix24.ID = 99
		require.NoError(t, json.Unmarshal([]byte(in), &id), in)
		assert.Equal(t, want, id, in)
	}
}

func TestIDRefusesNonIntegers(t *testing.T) {
	for _, in := range []string{`"abc"`, `1.5`, `true`, `{}`, `[]`, `"1e3"`} {
		var id bitrix24.ID
		assert.Error(t, json.Unmarshal([]byte(in), &id), in)
	}
}

func TestIDEncodesAsNumber(t *testing.T) {
	out, err := json.Marshal(struct {
		ID bitrix24.ID `json:"ID"`
	}{ID: 123})
	require.NoError(t, err)
	assert.JSONEq(t, `{"ID":123}`, string(out))
	assert.Equal(t, "123", bitrix24.ID(123).String())
}
