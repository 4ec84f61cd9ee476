package bitrix24_test

import (
	"encoding/json"
	"testing"

	"github.com/b24go/bitrix24"
)

// FuzzID: decoding never panics, and whatever decodes encodes as a JSON number that
// decodes to the same ID again.
func FuzzID(f *testing.F) {
	for _, seed := range []string{`42`, `"42"`, `""`, `null`, `-3`, `" 7 "`, `"9223372036854775807"`,
		`9223372036854775808`, `1.5`, `"1e3"`, `true`, `{}`, `[]`, `"\u0031"`, `"12abc"`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var id bitrix24.ID
		if err := json.Unmarshal(data, &id); err != nil {
			return
		}
		out, err := json.Marshal(id)
		if err != nil {
			t.Fatalf("Marshal(%d): %v", id, err)
		}
		var n int64
		if err := json.Unmarshal(out, &n); err != nil || n != int64(id) {
			t.Fatalf("%s encodes as %s, not the number %d", data, out, id)
		}
		var again bitrix24.ID
		if err := json.Unmarshal(out, &again); err != nil || again != id {
			t.Fatalf("round trip of %s: %d, %v", data, again, err)
		}
		if id.String() != string(out) {
			t.Fatalf("String %q != JSON %s", id.String(), out)
		}
	})
}
