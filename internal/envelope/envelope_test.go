package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeSuccess(t *testing.T) {
	t.Parallel()
	env, apiErr, err := Decode([]byte(`{"result":[{"ID":"1"}],"total":120,"next":50,"time":{"start":1724423274.842117,"finish":1724423275,"duration":"0.5","processing":0,"date_start":"2024-08-23T16:27:54+02:00","operating_reset_at":1724423874,"operating":1.83}}`))
	require.NoError(t, err)
	require.Nil(t, apiErr)
	assert.JSONEq(t, `[{"ID":"1"}]`, string(env.Result))
	assert.True(t, env.HasTotal)
	assert.Equal(t, 120, env.Total)
	assert.True(t, env.HasNext)
	assert.Equal(t, 50, env.Next)
	assert.InDelta(t, 1724423274.842117, env.Time.Start, 1e-6)
	assert.Equal(t, 1724423275.0, env.Time.Finish)
	assert.Equal(t, 0.5, env.Time.Duration)
	assert.Equal(t, int64(1724423874), env.Time.OperatingResetAt)
	assert.Equal(t, 1.83, env.Time.Operating)
	assert.Equal(t, "2024-08-23T16:27:54+02:00", env.Time.DateStart)
}

func TestDecodeOptionalAndOddShapes(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"result":null}`, `{"result":false}`, `{"result":[],"time":[]}`, `{"result":true,"time":"x"}`,
		` {"result":1,"total":"3"} `, `{"result":1,"error":null}`, `{"result":1,"error":""}`,
	} {
		env, apiErr, err := Decode([]byte(body))
		require.NoError(t, err, body)
		require.Nil(t, apiErr, body)
		assert.NotNil(t, env.Result, body)
		assert.False(t, env.HasNext, body)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	_, e, err := Decode([]byte(`{"error":"ERROR_ARGUMENT","error_description":"Argument \u0027options\u0027 is null or empty","argument":"options"}`))
	require.NoError(t, err)
	assert.Equal(t, &Error{Code: "ERROR_ARGUMENT", Description: "Argument 'options' is null or empty", Argument: "options"}, e)

	_, e, err = Decode([]byte(`{"error":"","error_description":"Not found"}`))
	require.NoError(t, err)
	assert.Equal(t, &Error{Description: "Not found"}, e)

	_, e, err = Decode([]byte(`{"result":true,"error":"expired_token","error_description":"x"}`))
	require.NoError(t, err)
	assert.Equal(t, "expired_token", e.Code, "an error key wins whatever else is there")
}

func TestDecodeNotEnvelope(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "<html>502</html>", `{"result":`, `[1]`, `{"foo":1}`, `"x"`, "null", `{"error":"","error_description":""}`} {
		_, _, err := Decode([]byte(body))
		require.ErrorIs(t, err, ErrNotEnvelope, body)
	}
}

func TestSections(t *testing.T) {
	t.Parallel()
	assert.Nil(t, Sections(json.RawMessage(`[]`)))
	assert.Nil(t, Sections(json.RawMessage(`null`)))
	assert.Equal(t, map[string]json.RawMessage{"a": json.RawMessage(`1`)}, Sections(json.RawMessage(`{"a":1}`)))
	assert.Equal(t, map[string]json.RawMessage{"0": json.RawMessage(`{"x":1}`), "1": json.RawMessage(`2`)}, Sections(json.RawMessage(`[{"x":1},2]`)))
	assert.True(t, IsEmptyList(json.RawMessage(" [ ] ")))
	assert.False(t, IsEmptyList(json.RawMessage("[1]")))
	assert.False(t, IsEmptyList(json.RawMessage("{}")))
}

func TestDecodeError(t *testing.T) {
	t.Parallel()
	e, ok := DecodeError(json.RawMessage(`{"error":"insufficient_scope","error_description":""}`))
	require.True(t, ok)
	assert.Equal(t, "insufficient_scope", e.Code)
	_, ok = DecodeError(json.RawMessage(`"x"`))
	assert.False(t, ok)
}

// BenchmarkDecode decodes the envelope the per-call benchmarks answer with (small), and
// one with a result of 1,000 deals, about 176 KB (large).
func BenchmarkDecode(b *testing.B) {
	small, err := os.ReadFile(filepath.Join("..", "..", "testdata", "useroption_set_ok.json"))
	if err != nil {
		b.Fatal(err)
	}
	var large strings.Builder
	large.WriteString(`{"result":[`)
	for i := range 1000 {
		if i > 0 {
			large.WriteByte(',')
		}
		fmt.Fprintf(&large, `{"ID":"%d","TITLE":"Deal number %d with a title","STAGE_ID":"NEW","OPPORTUNITY":"1500.00",`+
			`"CURRENCY_ID":"EUR","ASSIGNED_BY_ID":"1","DATE_CREATE":"2024-08-23T16:27:54+02:00"}`, i, i)
	}
	large.WriteString(`],"total":1000,"time":`)
	large.WriteString(string(small[bytes.Index(small, []byte(`{"start"`)) : len(bytes.TrimSpace(small))-1]))
	large.WriteString(`}`)
	for _, bc := range []struct {
		name string
		body []byte
	}{{"small", small}, {"large", []byte(large.String())}} {
		b.Run("size="+bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Decode(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestDecodeLenientNumbers(t *testing.T) {
	t.Parallel()
	env, _, err := Decode([]byte(`{"result":1,"total":"120","next":50.0,"time":{"start":"1.5","operating_reset_at":"1724423874",` +
		`"date_start":2024,"finish":{"x":1},"duration":null,"processing":"fast","operating":1e400}}`))
	require.NoError(t, err)
	assert.Equal(t, 120, env.Total)
	assert.Equal(t, 50, env.Next)
	assert.Equal(t, Time{Start: 1.5, OperatingResetAt: 1724423874, DateStart: "2024"}, env.Time,
		"numbers as strings are read, values of the wrong type are zero")

	// A "time" that is not an object ([] is PHP's empty map) leaves the rest intact.
	for _, tm := range []string{`[]`, `[1]`, `"x"`, `true`, `12`} {
		env, _, err := Decode([]byte(`{"time":` + tm + `,"result":1,"total":3}`))
		require.NoError(t, err, tm)
		assert.Equal(t, 3, env.Total, tm)
		assert.Equal(t, Time{}, env.Time, tm)
		assert.Equal(t, Time{}, DecodeTime(json.RawMessage(tm)), tm)
	}
	assert.Equal(t, 2.5, DecodeTime(json.RawMessage(`{"duration":"2.5"}`)).Duration)

	n, ok := Int(json.RawMessage(`"12"`))
	assert.True(t, ok)
	assert.Equal(t, 12, n)
	_, ok = Int(json.RawMessage(`1e300`))
	assert.False(t, ok, "out of int range")
}

// TestDecodeV3Error: REST v3's error object (recorded in b24jssdk issue 500) gives its
// code and message, whichever decoder reads it.
func TestDecodeV3Error(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]Error{
		`{"error":{"code":"BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION","message":"Доступ запрещен"}}`: {Code: "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION", Description: "Доступ запрещен"},
		`{"error":{"code":"X_Y"},"error_description":"top"}`:                                              {Code: "X_Y", Description: "top"},
		`{"error":{"code":42,"message":"m"}}`:                                                             {Code: "42", Description: "m"},
	} {
		env, e, err := Decode([]byte(body))
		require.NoError(t, err, body)
		require.Nil(t, env, body)
		require.NotNil(t, e, body)
		assert.Equal(t, want, *e, body)
		got, ok := DecodeError(json.RawMessage(body))
		assert.True(t, ok)
		assert.Equal(t, want, got, body)
	}
	_, e, err := Decode([]byte(`{"error":{}}`))
	assert.Nil(t, e)
	assert.ErrorIs(t, err, ErrNotEnvelope)
}
