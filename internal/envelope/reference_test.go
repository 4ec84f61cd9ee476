package envelope_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b24go/bitrix24/internal/envelope"
	"github.com/b24go/bitrix24/internal/envelope/jsonref"
)

// FuzzDecode: never panics; exactly one of the three outcomes; an error key always
// yields an error; a decoded envelope does not alias the body.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "*.json"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{`{"result":[],"time":[]}`, `{"error":"","error_description":"Not found"}`, `<html>`, `{"result":{"a":`, `{"result":1,"total":1e400}`, `{"error":{"code":"BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION","message":"m"}}`, `{"error":{"code":1},"error_description":"d"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameAsReference(t, body)
		env, e, err := envelope.Decode(body)
		outcomes := 0
		for _, set := range []bool{env != nil, e != nil, err != nil} {
			if set {
				outcomes++
			}
		}
		if outcomes != 1 {
			t.Fatalf("Decode(%q) gave %d outcomes", body, outcomes)
		}
		if err != nil && !errors.Is(err, envelope.ErrNotEnvelope) {
			t.Fatalf("error %v does not wrap envelope.ErrNotEnvelope", err)
		}
		var probe map[string]json.RawMessage
		if json.Unmarshal(body, &probe) == nil {
			if code, ok := probe["error"]; ok && e == nil && env != nil {
				var s string
				if json.Unmarshal(code, &s) == nil && s != "" {
					t.Fatalf("error key %s ignored", code)
				}
			}
		}
		if env != nil {
			// The client reuses body's buffer: nothing decoded may alias it.
			result := string(env.Result)
			for i := range body {
				body[i] = ' '
			}
			if string(env.Result) != result {
				t.Fatalf("Result aliases the body")
			}
		}
	})
}

// sameAsReference fails unless Decode and the encoding/json reference decoder agree on
// body: the same outcome, the same envelope or the same error fields.
func sameAsReference(t *testing.T, body []byte) {
	t.Helper()
	env, e, err := envelope.Decode(bytes.Clone(body))
	refEnv, refE, refErr := jsonref.Decode(bytes.Clone(body))
	if (env != nil) != (refEnv != nil) || (e != nil) != (refE != nil) || (err != nil) != (refErr != nil) {
		t.Fatalf("Decode(%q) = %v, %v, %v; reference %v, %v, %v", body, env, e, err, refEnv, refE, refErr)
	}
	if e != nil && (e.Code != refE.Code || e.Description != refE.Description || e.Argument != refE.Argument) {
		t.Fatalf("Decode(%q) error %+v; reference %+v", body, *e, *refE)
	}
	if env == nil {
		return
	}
	if !bytes.Equal(env.Result, refEnv.Result) || env.Total != refEnv.Total || env.HasTotal != refEnv.HasTotal ||
		env.Next != refEnv.Next || env.HasNext != refEnv.HasNext {
		t.Fatalf("Decode(%q) = %+v; reference %+v", body, *env, *refEnv)
	}
	got, _ := json.Marshal(env.Time)
	want, _ := json.Marshal(refEnv.Time)
	if string(got) != string(want) && lowerCaseTimeKeys(body) {
		t.Fatalf("Decode(%q) time %s; reference %s", body, got, want)
	}
}

// lowerCaseTimeKeys: encoding/json matches the keys of "time" case-insensitively, the
// scanner only as the server writes them (lower case); they are compared only then.
func lowerCaseTimeKeys(body []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return true
	}
	for k, v := range top {
		if !strings.EqualFold(k, "time") {
			continue
		}
		var inner map[string]json.RawMessage
		if json.Unmarshal(v, &inner) != nil {
			continue
		}
		for ik := range inner {
			if ik != strings.ToLower(ik) {
				return false
			}
		}
	}
	return true
}
