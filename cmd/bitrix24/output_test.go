package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

// PHP's escapes become characters; order, numbers and nesting stay as sent.
func TestNormalizeJSON(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"b": "https:\/\/x\/y", "a": [1, 2.50, {"z": null, "y": true}], "c": {}}`: `{"b":"https://x/y","a":[1,2.50,{"z":null,"y":true}],"c":{}}`,
		`"\u041f\u0440\u0438\u0432\u0435\u0442 \u0027q\u0027 <b>&"`:                `"Привет 'q' <b>&"`,
		`[]`:                          `[]`,
		`12345678901234567890`:        `12345678901234567890`,
		`[[],[[]],{"a":{"b":{}}}]`:    `[[],[[]],{"a":{"b":{}}}]`,
		`"line\nbreak \"quoted\""`:    `"line\nbreak \"quoted\""`,
		`{"k": "tab\there", "n": -1}`: `{"k":"tab\there","n":-1}`,
	} {
		got, err := normalizeJSON([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s:\n got %s\nwant %s", in, got, want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: output %s is not JSON", in, got)
		}
	}
	if _, err := normalizeJSON([]byte(`{"a":`)); err == nil {
		t.Error("truncated JSON: no error")
	}
}

func TestTableOfRowsKeepsColumnOrder(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	rows := []json.RawMessage{[]byte(`{"ID":"1","TITLE":"a\tb"}`), []byte(`{"ID":"2","EXTRA":[1]}`), []byte(`"scalar"`)}
	if err := writeRows(&buf, rows); err != nil {
		t.Fatal(err)
	}
	want := "ID  TITLE  EXTRA\n1   a b    \n2          [1]\nscalar\n"
	if buf.String() != want {
		t.Errorf("got\n%q\nwant\n%q", buf.String(), want)
	}
}
