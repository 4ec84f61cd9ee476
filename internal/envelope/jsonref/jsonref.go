// Package jsonref is the reference decoder of Bitrix24's REST answer, written with
// encoding/json alone. The library uses the hand scanner of package envelope, which is
// about twice as fast and keeps the per-call budget (docs/performance.md, "Envelope");
// envelope's fuzz target checks that both agree on every input. It decodes
// {"result", "total", "next", "time"} on success and {"error", "error_description"} on
// failure, leniently: PHP encodes an empty map as [], newer servers send whole numbers
// where older ones sent floats, numbers may arrive as strings, and some errors arrive
// with HTTP 200.
//
// Decoding is encoding/json into structs of json.RawMessage fields; the lenient parts
// are two small json.Unmarshaler types (number and text) and the functions below.
package jsonref

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// ErrNotEnvelope reports a body that is not a Bitrix24 envelope.
var ErrNotEnvelope = errors.New("not a Bitrix24 envelope")

// Time is the envelope's "time" object. Every field is optional.
type Time struct {
	Start            float64
	Finish           float64
	Duration         float64
	Processing       float64
	DateStart        string
	DateFinish       string
	Operating        float64
	OperatingResetAt int64 // Unix seconds; 0 when the server did not send it
}

// Envelope is a decoded successful answer.
type Envelope struct {
	Result json.RawMessage // raw "result"; may be null, false, [] or anything else
	Total  int
	Next   int
	// HasTotal and HasNext tell whether the keys were present.
	HasTotal bool
	HasNext  bool
	Time     Time
}

// Error is a decoded error answer.
type Error struct {
	Code        string
	Description string
	Argument    string
}

// errorWire is the error part of an envelope, also a batch's result_error entry.
type errorWire struct {
	Error       json.RawMessage `json:"error"`
	Description json.RawMessage `json:"error_description"`
	Argument    json.RawMessage `json:"argument"`
}

// wire mirrors the envelope with every flexible field kept raw. encoding/json copies
// each RawMessage, so nothing decoded aliases the body (the client reuses its buffer).
type wire struct {
	Result json.RawMessage `json:"result"`
	Total  json.RawMessage `json:"total"`
	Next   json.RawMessage `json:"next"`
	Time   timeWire        `json:"time"`
	errorWire
}

// Decode reads body. It returns the envelope, or the error the body carries (whatever
// the HTTP status), or an error wrapping [ErrNotEnvelope] when body is neither.
func Decode(body []byte) (*Envelope, *Error, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, nil, notEnvelope("body is not a JSON object")
	}
	var w wire
	if err := json.Unmarshal(trimmed, &w); err != nil && !timeNotObject(err) {
		return nil, nil, notEnvelope("invalid JSON: " + err.Error())
	}
	if e := decodeError(w.errorWire); e != nil {
		return nil, e, nil
	}
	if w.Result == nil {
		return nil, nil, notEnvelope(`no "result" or "error" key`)
	}
	env := &Envelope{Result: w.Result, Time: w.Time.time()}
	env.Total, env.HasTotal = Int(w.Total)
	env.Next, env.HasNext = Int(w.Next)
	return env, nil, nil
}

// decodeError returns the error of w, or nil when w carries none. An "error" key that
// is null, false or an empty string with no description is no error.
func decodeError(w errorWire) *Error {
	if w.Error == nil || isNull(w.Error) {
		return nil
	}
	e := &Error{
		Code:        stringOf(w.Error),
		Description: stringOf(w.Description),
		Argument:    stringOf(w.Argument),
	}
	if e.Code == "" && e.Description == "" {
		return nil
	}
	return e
}

// DecodeError reads one {"error", "error_description", "argument"} object, as found in
// a batch's result_error section. ok is false when raw is not such an object.
func DecodeError(raw json.RawMessage) (e Error, ok bool) {
	var w errorWire
	if json.Unmarshal(raw, &w) != nil {
		return Error{}, false
	}
	pe := decodeError(w)
	if pe == nil {
		return Error{}, false
	}
	return *pe, true
}

// DecodeTime reads a "time" object; anything else (absent, null, [], a string) gives
// the zero Time. Numbers may be floats or integers, and are accepted as strings too.
func DecodeTime(raw json.RawMessage) Time {
	var w timeWire
	if json.Unmarshal(raw, &w) != nil {
		return Time{}
	}
	return w.time()
}

// timeWire is the "time" object as sent. A field of the wrong type is read as zero
// rather than failing the whole object: time is informational.
type timeWire struct {
	Start            number `json:"start"`
	Finish           number `json:"finish"`
	Duration         number `json:"duration"`
	Processing       number `json:"processing"`
	DateStart        text   `json:"date_start"`
	DateFinish       text   `json:"date_finish"`
	Operating        number `json:"operating"`
	OperatingResetAt number `json:"operating_reset_at"`
}

func (w *timeWire) time() Time {
	return Time{
		Start:            float64(w.Start),
		Finish:           float64(w.Finish),
		Duration:         float64(w.Duration),
		Processing:       float64(w.Processing),
		DateStart:        string(w.DateStart),
		DateFinish:       string(w.DateFinish),
		Operating:        float64(w.Operating),
		OperatingResetAt: int64(w.OperatingResetAt),
	}
}

// timeNotObject reports whether err is encoding/json's complaint that "time" is not an
// object: PHP sends an empty "time" as [], and time is informational. It is the only
// type error decoding a wire can meet (every other field takes any value), and
// encoding/json still decodes the other fields.
func timeNotObject(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te) && te.Field == "time"
}

// number is a float sent as a JSON number or a numeric string; anything else is 0.
type number float64

// UnmarshalJSON implements json.Unmarshaler.
func (n *number) UnmarshalJSON(b []byte) error {
	f, _ := floatOf(b)
	*n = number(f)
	return nil
}

// text is a string sent as a JSON string or as a number (its text); anything else is "".
type text string

// UnmarshalJSON implements json.Unmarshaler.
func (s *text) UnmarshalJSON(b []byte) error {
	*s = text(stringOf(b))
	return nil
}

// Sections splits a JSON value that PHP produced from a map into its entries. PHP sends
// an empty map as [] and a map keyed 0..n-1 as a list, so a list becomes entries keyed
// "0".."n-1". Anything else (null, a scalar) has no entries.
func Sections(raw json.RawMessage) map[string]json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil {
			return m
		}
	case '[':
		var l []json.RawMessage
		if json.Unmarshal(raw, &l) == nil && len(l) > 0 {
			m := make(map[string]json.RawMessage, len(l))
			for i, v := range l {
				m[strconv.Itoa(i)] = v
			}
			return m
		}
	}
	return nil
}

// IsEmptyList reports whether raw is [] (how PHP encodes an empty map).
func IsEmptyList(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '[' {
		return false
	}
	return len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0 && raw[len(raw)-1] == ']'
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte("false"))
}

// stringOf reads a JSON string, or the text of a number; anything else is "".
func stringOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		if inner, ok := plainASCII(raw); ok {
			return string(inner)
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case isNumber(raw):
		return string(raw)
	}
	return ""
}

// floatOf reads a JSON number or a numeric string; null reads as 0 (ok, as
// encoding/json leaves a float at 0 for null). Out-of-range values fail, as in
// encoding/json.
func floatOf(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	switch c := raw[0]; {
	case c == 'n':
		return 0, string(raw) == "null"
	case c == '"':
		inner, ok := plainASCII(raw)
		if !ok {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return 0, false
			}
			inner = []byte(s)
		}
		return parseFloat(inner)
	case isNumber(raw):
		return parseFloat(raw)
	}
	return 0, false
}

// parseFloat is strconv.ParseFloat; out-of-range values fail and read as 0, as in
// encoding/json.
func parseFloat(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// plainASCII returns the text of a JSON string of printable ASCII without escapes: what
// encoding/json would return, without its reflection. Other strings report false.
func plainASCII(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return nil, false
		}
	}
	return inner, true
}

// isNumber reports whether raw is a JSON number. It only looks at the characters, which
// is enough for values encoding/json has validated and keeps strconv.ParseFloat from
// accepting its own extensions (hex, Inf, NaN, underscores).
func isNumber(raw []byte) bool {
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return false
	}
	for _, c := range raw {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

// Int reads a JSON integer the way PHP's intval would: floats are truncated, numeric
// strings accepted.
func Int(raw json.RawMessage) (int, bool) {
	f, ok := floatOf(raw)
	if !ok || f > 1<<53 || f < -(1<<53) {
		return 0, false
	}
	return int(f), true
}

func notEnvelope(reason string) error {
	return &NotEnvelopeError{Reason: reason}
}

// NotEnvelopeError says why a body is not an envelope. It wraps [ErrNotEnvelope].
type NotEnvelopeError struct{ Reason string }

func (e *NotEnvelopeError) Error() string { return e.Reason }

// Unwrap makes errors.Is(err, ErrNotEnvelope) hold.
func (e *NotEnvelopeError) Unwrap() error { return ErrNotEnvelope }
