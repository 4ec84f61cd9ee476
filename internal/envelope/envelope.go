// Package envelope decodes Bitrix24's REST answer,
// {"result", "total", "next", "time"} on success and {"error", "error_description"} on
// failure, leniently: PHP encodes an empty map as [], newer servers send whole numbers
// where older ones sent floats, and some errors arrive with HTTP 200.
//
// The decoder is a hand-written scanner, not encoding/json: decoding into json.RawMessage
// fields measured 1.18× raw net/http per call against 1.08× for the scanner in one
// interleaved run, over the budget of 1.10× (docs/performance.md, "Envelope"). Package
// jsonref keeps the encoding/json version as the reference, and FuzzDecode checks that
// both decode every input the same way.
package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
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

// wireKeys are the envelope's keys, in the order of wire.fields.
var wireKeys = [...]string{"result", "total", "next", "time", "error", "error_description", "argument"}

// fields points at the field of each of wireKeys.
func (w *wire) fields() [len(wireKeys)]*json.RawMessage {
	return [...]*json.RawMessage{&w.Result, &w.Total, &w.Next, &w.Time, &w.Error, &w.Description, &w.Argument}
}

// Decode reads body. It returns the envelope, or the error the body carries (whatever
// the HTTP status), or an error wrapping [ErrNotEnvelope] when body is neither.
func Decode(body []byte) (*Envelope, *Error, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, nil, notEnvelope("body is not a JSON object")
	}
	var w wire
	aliased, err := decodeWire(trimmed, &w)
	if err != nil {
		return nil, nil, notEnvelope("invalid JSON: " + err.Error())
	}
	if e := decodeError(w); e != nil {
		return nil, e, nil
	}
	if w.Result == nil {
		return nil, nil, notEnvelope(`no "result" or "error" key`)
	}
	if aliased {
		// The envelope must not share memory with body, as with encoding/json.
		w.Result = append(json.RawMessage(nil), w.Result...)
	}
	env := &Envelope{Result: w.Result}
	env.Total, env.HasTotal = Int(w.Total)
	env.Next, env.HasNext = Int(w.Next)
	if len(w.Time) > 0 && w.Time[0] == '{' {
		env.Time = decodeTime(w.Time) // valid JSON: a value of a valid document
	}
	return env, nil, nil
}

// decodeError returns the error of w, or nil when w carries none. An "error" key that
// is null, false or an empty string with no description is no error. An object under
// "error" is REST v3's {"code", "message"}.
func decodeError(w wire) *Error {
	if w.Error == nil || isNull(w.Error) {
		return nil
	}
	e := &Error{
		Code:        stringOf(w.Error),
		Description: stringOf(w.Description),
		Argument:    stringOf(w.Argument),
	}
	if w.Error[0] == '{' {
		e.Code, e.Description = V3Error(w.Error, e.Description)
	}
	if e.Code == "" && e.Description == "" {
		return nil
	}
	return e
}

// V3Error reads the error object of REST v3, {"code": "...", "message": "..."}, found
// where v1 has a string under "error" (recorded from /rest/api/, b24jssdk issue 500).
// desc is the top-level error_description, kept when the object has no message.
func V3Error(raw json.RawMessage, desc string) (code, description string) {
	var v3 struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(raw, &v3) != nil {
		return "", desc
	}
	description = stringOf(v3.Message)
	if description == "" {
		description = desc
	}
	return stringOf(v3.Code), description
}

// DecodeError reads one {"error", "error_description", "argument"} object, as found in
// a batch's result_error section. ok is false when raw is not such an object.
func DecodeError(raw json.RawMessage) (e Error, ok bool) {
	var w wire
	if _, err := decodeWire(raw, &w); err != nil {
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
	if len(raw) == 0 || raw[0] != '{' || !valid(raw) {
		return Time{}
	}
	return decodeTime(raw)
}

// decodeTime is DecodeTime for an object json.Valid accepts.
func decodeTime(raw json.RawMessage) Time {
	var t Time
	var reset float64
	it := objectIter{data: raw, off: 1}
	for {
		key, val, ok := it.next()
		if !ok {
			t.OperatingResetAt = int64(reset)
			return t
		}
		switch string(key) {
		case "start":
			t.Start, _ = floatOf(val)
		case "finish":
			t.Finish, _ = floatOf(val)
		case "duration":
			t.Duration, _ = floatOf(val)
		case "processing":
			t.Processing, _ = floatOf(val)
		case "operating":
			t.Operating, _ = floatOf(val)
		case "operating_reset_at":
			reset, _ = floatOf(val)
		case "date_start":
			t.DateStart = stringOf(val)
		case "date_finish":
			t.DateFinish = stringOf(val)
		default:
			if bytes.IndexByte(key, '\\') >= 0 {
				// An escaped key may spell one of the above: let encoding/json read it.
				return decodeTimeMap(raw)
			}
		}
	}
}

// decodeTimeMap is DecodeTime through encoding/json, for objects with escaped keys.
func decodeTimeMap(raw json.RawMessage) Time {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
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
	if text, ok := plainString(raw); ok {
		return string(text)
	}
	if isNumber(raw) {
		return string(raw)
	}
	if string(raw) == "null" {
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
	// The common shapes without encoding/json, with its results: a number, a string
	// without escapes, null (which leaves the float at 0 without an error).
	if isNumber(raw) {
		return parseFloat(raw)
	}
	if text, ok := plainString(raw); ok {
		if !isNumber(text) {
			return 0, false // "NaN", "Inf", "0x1p4": numbers to strconv, not to JSON
		}
		return parseFloat(text)
	}
	if string(raw) == "null" {
		return 0, true
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return f, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && isNumber([]byte(s)) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, true
		}
	}
	return 0, false
}

// Int reads a JSON integer the way PHP's intval would: floats are truncated, numeric
// strings accepted.
func Int(raw json.RawMessage) (int, bool) {
	if f, ok := floatOf(raw); ok && math.Abs(f) <= 1<<53 { // NaN fails too
		return int(f), true
	}
	return 0, false
}

func notEnvelope(reason string) error {
	return &NotEnvelopeError{Reason: reason}
}

// NotEnvelopeError says why a body is not an envelope. It wraps [ErrNotEnvelope].
type NotEnvelopeError struct{ Reason string }

func (e *NotEnvelopeError) Error() string { return e.Reason }

// Unwrap makes errors.Is(err, ErrNotEnvelope) hold.
func (e *NotEnvelopeError) Unwrap() error { return ErrNotEnvelope }

// decodeWire fills w from data, a JSON object. Objects whose keys are plain ASCII are
// validated and read in one pass by scanWire, without encoding/json; w's fields then
// alias data (aliased is true). Anything else goes through encoding/json, whose rules
// the fast path follows: keys match case-insensitively, the last of repeated keys wins,
// and each field holds its value's bytes, null included.
func decodeWire(data []byte, w *wire) (aliased bool, err error) {
	if len(data) > 0 && data[0] == '{' && scanWire(data, w) {
		return true, nil
	}
	*w = wire{}
	return false, json.Unmarshal(data, w)
}

// scanWire validates data, a JSON object with nothing around it, and reads its members
// into w. It gives up (false) on invalid JSON and wherever encoding/json would apply a
// rule of its own: a key with an escape or a non-ASCII byte (unescaping, Unicode case
// folding), nesting deeper than maxDepth. w is then partly filled.
func scanWire(d []byte, w *wire) bool {
	i := skipSpace(d, 1)
	if i < len(d) && d[i] == '}' {
		return i+1 == len(d)
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return false
		}
		keyEnd := validString(d, i)
		if keyEnd < 0 {
			return false
		}
		key := d[i+1 : keyEnd-1]
		for _, ch := range key {
			if ch == '\\' || ch >= 0x80 {
				return false
			}
		}
		i = skipSpace(d, keyEnd)
		if i >= len(d) || d[i] != ':' {
			return false
		}
		i = skipSpace(d, i+1)
		end := validValue(d, i, 1)
		if end < 0 {
			return false
		}
		// Keys match case-insensitively, as encoding/json matches struct fields.
		for k, dst := range w.fields() {
			if asciiEqualFold(key, wireKeys[k]) {
				*dst = d[i:end]
				break
			}
		}
		i = skipSpace(d, end)
		if i >= len(d) {
			return false
		}
		switch d[i] {
		case ',':
			i = skipSpace(d, i+1)
		case '}':
			return i+1 == len(d)
		default:
			return false
		}
	}
}

// maxDepth bounds the nesting validValue checks itself; deeper values are left to
// encoding/json (which allows 10,000 levels).
const maxDepth = 1000

// valid reports whether data is one JSON value, as json.Valid does, and faster for
// the common case.
func valid(data []byte) bool {
	i := skipSpace(data, 0)
	if end := validValue(data, i, 1); end >= 0 && skipSpace(data, end) == len(data) {
		return true
	}
	return json.Valid(data) // invalid, or too deep for validValue
}

// validValue returns the index after the JSON value starting at d[i], or -1 when there
// is none, it is invalid, or it nests deeper than maxDepth. It accepts exactly what
// encoding/json accepts: strings may hold any byte from 0x20 up, invalid UTF-8 included.
func validValue(d []byte, i, depth int) int {
	if i >= len(d) {
		return -1
	}
	switch c := d[i]; {
	case c == '"':
		return validString(d, i)
	case c == '{' || c == '[':
		if depth > maxDepth {
			return -1
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i = skipSpace(d, i+1)
		if i < len(d) && d[i] == closing {
			return i + 1
		}
		for {
			if c == '{' {
				if i >= len(d) || d[i] != '"' {
					return -1
				}
				if i = validString(d, i); i < 0 {
					return -1
				}
				if i = skipSpace(d, i); i >= len(d) || d[i] != ':' {
					return -1
				}
				i = skipSpace(d, i+1)
			}
			if i = validValue(d, i, depth+1); i < 0 {
				return -1
			}
			if i = skipSpace(d, i); i >= len(d) {
				return -1
			}
			switch d[i] {
			case ',':
				i = skipSpace(d, i+1)
			case closing:
				return i + 1
			default:
				return -1
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return numberEnd(d, i)
	case c == 't':
		return literalEnd(d, i, "true")
	case c == 'f':
		return literalEnd(d, i, "false")
	case c == 'n':
		return literalEnd(d, i, "null")
	}
	return -1
}

// validString returns the index after the valid JSON string opening at d[i], or -1.
func validString(d []byte, i int) int {
	for j := i + 1; j < len(d); j++ {
		switch c := d[j]; {
		case c == '"':
			return j + 1
		case c < 0x20:
			return -1
		case c == '\\':
			j++
			if j >= len(d) {
				return -1
			}
			switch d[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(d) || !isHex(d[j+1]) || !isHex(d[j+2]) || !isHex(d[j+3]) || !isHex(d[j+4]) {
					return -1
				}
				j += 4
			default:
				return -1
			}
		}
	}
	return -1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// numberEnd returns the index after the JSON number starting at d[i], or -1. The
// caller checks what follows.
func numberEnd(d []byte, i int) int {
	j := i
	if d[j] == '-' {
		j++
	}
	switch {
	case j < len(d) && d[j] == '0':
		j++
	case j < len(d) && d[j] >= '1' && d[j] <= '9':
		j = digitsEnd(d, j+1)
	default:
		return -1
	}
	if j < len(d) && d[j] == '.' {
		k := digitsEnd(d, j+1)
		if k == j+1 {
			return -1
		}
		j = k
	}
	if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
		j++
		if j < len(d) && (d[j] == '+' || d[j] == '-') {
			j++
		}
		k := digitsEnd(d, j)
		if k == j {
			return -1
		}
		j = k
	}
	return j
}

func digitsEnd(d []byte, j int) int {
	for j < len(d) && d[j] >= '0' && d[j] <= '9' {
		j++
	}
	return j
}

func literalEnd(d []byte, i int, lit string) int {
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// objectIter walks the members of a JSON object that json.Valid accepted, without
// allocating: keys are returned without their quotes and unescaped, values as their
// bytes without surrounding whitespace.
type objectIter struct {
	data []byte
	off  int // after '{' or after the previous value
}

func (it *objectIter) next() (key, val []byte, ok bool) {
	d := it.data
	i := skipSpace(d, it.off)
	if d[i] == ',' {
		i = skipSpace(d, i+1)
	}
	if d[i] != '"' { // '}'
		return nil, nil, false
	}
	end := stringEnd(d, i)
	key = d[i+1 : end-1]
	i = skipSpace(d, end) // at ':'
	i = skipSpace(d, i+1)
	end = valueEnd(d, i)
	it.off = end
	return key, d[i:end], true
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the string opening at d[i].
func stringEnd(d []byte, i int) int {
	for j := i + 1; j < len(d); j++ {
		switch d[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(d)
}

// valueEnd returns the index after the value starting at d[i].
func valueEnd(d []byte, i int) int {
	switch d[i] {
	case '"':
		return stringEnd(d, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(d); j++ {
			switch d[j] {
			case '"':
				j = stringEnd(d, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(d)
	}
	j := i
	for j < len(d) {
		switch d[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

// isNumber reports whether b is exactly one JSON number.
func isNumber(b []byte) bool {
	return len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') && numberEnd(b, 0) == len(b)
}

// plainString returns the text of a JSON string that needs no unescaping: no escape,
// no control character, valid UTF-8 (encoding/json would replace invalid bytes).
func plainString(b []byte) ([]byte, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, false
	}
	text := b[1 : len(b)-1]
	ascii := true
	for _, ch := range text {
		if ch < 0x20 || ch == '"' || ch == '\\' {
			return nil, false
		}
		if ch >= 0x80 {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(text) {
		return nil, false
	}
	return text, true
}

// parseFloat is strconv.ParseFloat on b; out-of-range values fail, as in encoding/json.
func parseFloat(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, false
	}
	return f, true
}
