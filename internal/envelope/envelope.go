// Package envelope decodes Bitrix24's REST answer,
// {"result", "total", "next", "time"} on success and {"error", "error_description"} on
// failure, leniently: PHP encodes an empty map as [], newer servers send whole numbers
// where older ones sent floats, and some errors arrive with HTTP 200.
package envelope

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

// wire mirrors the envelope with every flexible field kept raw.
type wire struct {
	Result      json.RawMessage `json:"result"`
	Total       json.RawMessage `json:"total"`
	Next        json.RawMessage `json:"next"`
	Time        json.RawMessage `json:"time"`
	Error       json.RawMessage `json:"error"`
	Description json.RawMessage `json:"error_description"`
	Argument    json.RawMessage `json:"argument"`
}

// Decode reads body. It returns the envelope, or the error the body carries (whatever
// the HTTP status), or an error wrapping [ErrNotEnvelope] when body is neither.
func Decode(body []byte) (*Envelope, *Error, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, nil, notEnvelope("body is not a JSON object")
	}
	var w wire
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return nil, nil, notEnvelope("invalid JSON: " + err.Error())
	}
	if e := decodeError(w); e != nil {
		return nil, e, nil
	}
	if w.Result == nil {
		return nil, nil, notEnvelope(`no "result" or "error" key`)
	}
	env := &Envelope{Result: w.Result}
	env.Total, env.HasTotal = Int(w.Total)
	env.Next, env.HasNext = Int(w.Next)
	env.Time = DecodeTime(w.Time)
	return env, nil, nil
}

// decodeError returns the error of w, or nil when w carries none. An "error" key that
// is null, false or an empty string with no description is no error.
func decodeError(w wire) *Error {
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
	var w wire
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
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return Time{}
	}
	reset, _ := floatOf(m["operating_reset_at"])
	t := Time{
		DateStart:        stringOf(m["date_start"]),
		DateFinish:       stringOf(m["date_finish"]),
		OperatingResetAt: int64(reset),
	}
	t.Start, _ = floatOf(m["start"])
	t.Finish, _ = floatOf(m["finish"])
	t.Duration, _ = floatOf(m["duration"])
	t.Processing, _ = floatOf(m["processing"])
	t.Operating, _ = floatOf(m["operating"])
	return t
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
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// floatOf reads a JSON number or a numeric string.
func floatOf(raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return f, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, true
		}
	}
	return 0, false
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
