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
	"fmt"
	"math"
	"strconv"

	"github.com/b24go/bitrix24/internal/envelope"
)

// The reference decodes into the types of package envelope, so that the two outcomes
// compare field by field.
type (
	Time     = envelope.Time
	Envelope = envelope.Envelope
	Error    = envelope.Error
)

// ErrNotEnvelope is envelope's: a body that is not a Bitrix24 envelope.
var ErrNotEnvelope = envelope.ErrNotEnvelope

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
	e := Error{Code: stringOf(w.Error), Description: stringOf(w.Description), Argument: stringOf(w.Argument)}
	var v3 struct {
		Code    text `json:"code"`
		Message text `json:"message"`
	}
	if len(w.Error) > 0 && w.Error[0] == '{' && json.Unmarshal(w.Error, &v3) == nil {
		e.Code = string(v3.Code)
		if v3.Message != "" {
			e.Description = string(v3.Message)
		}
	}
	if w.Error == nil || isNull(w.Error) || e.Code+e.Description == "" {
		return nil
	}
	return &e
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

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte("false"))
}

// stringOf reads a JSON string, or the text of a number; anything else is "".
func stringOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if len(bytes.TrimSpace(raw)) > 0 && bytes.TrimSpace(raw)[0] != '"' && json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// floatOf reads a JSON number or a string holding one, the way encoding/json reads
// them into a json.Number; null reads as 0.
func floatOf(raw json.RawMessage) (float64, bool) {
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	if n == "" {
		return 0, true // null
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	return f, err == nil
}

// Int reads a JSON integer the way PHP's intval would: floats are truncated, numeric
// strings accepted.
func Int(raw json.RawMessage) (int, bool) {
	f, ok := floatOf(raw)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || math.Trunc(f) > 1<<53 || math.Trunc(f) < -(1<<53) {
		return 0, false
	}
	return int(math.Trunc(f)), true
}

func notEnvelope(reason string) error {
	return fmt.Errorf("%s: %w", reason, ErrNotEnvelope)
}
