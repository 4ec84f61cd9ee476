package bitrix24test

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// omap is an insertion-ordered string-keyed map, the fake's stand-in for a PHP array
// whose key order matters on the wire (envelopes, batch sections, list items).
type omap struct {
	keys []string
	vals map[string]any
}

func newOmap() *omap { return &omap{vals: map[string]any{}} }

func (m *omap) set(k string, v any) {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

func (m *omap) get(k string) (any, bool) {
	v, ok := m.vals[k]
	return v, ok
}

func (m *omap) len() int { return len(m.keys) }

// phpJSON encodes v the way Bitrix\Main\Web\Json::encode does: JSON_HEX_TAG, HEX_AMP,
// HEX_APOS, HEX_QUOT, UNESCAPED_UNICODE, INVALID_UTF8_SUBSTITUTE and escaped slashes.
// An empty map and a map whose keys are exactly "0".."n-1" come out as JSON lists, like
// PHP arrays. Plain Go maps have no order, so their keys are written numerically-first,
// then lexically; PHP would keep insertion order (decoders cannot tell the difference).
func phpJSON(v any) []byte {
	var b bytes.Buffer
	writePHP(&b, v)
	return b.Bytes()
}

func writePHP(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		writePHPString(b, x)
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(phpFloat(x))
	case json.Number:
		b.WriteString(phpNumber(x))
	case []any:
		writeList(b, x)
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		writePHP(b, l)
	case map[string]any:
		keys := sortedKeys(x)
		if isListKeys(keys) {
			writeList(b, listOf(keys, func(k string) any { return x[k] }))
			return
		}
		writeObject(b, keys, func(k string) any { return x[k] })
	case *omap:
		if isListKeysInOrder(x.keys) {
			writeList(b, listOf(x.keys, func(k string) any { return x.vals[k] }))
			return
		}
		writeObject(b, x.keys, func(k string) any { return x.vals[k] })
	default:
		// Not produced by the fake itself; fall back to encoding/json, then re-encode
		// generically so the PHP escaping still applies.
		raw, err := json.Marshal(x)
		if err != nil {
			b.WriteString("null")
			return
		}
		var g any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if d.Decode(&g) != nil {
			b.WriteString("null")
			return
		}
		writePHP(b, g)
	}
}

// writeJoined writes open, n items separated by commas, then close.
func writeJoined(b *bytes.Buffer, open, close byte, n int, item func(i int)) {
	b.WriteByte(open)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		item(i)
	}
	b.WriteByte(close)
}

func writeList(b *bytes.Buffer, l []any) {
	writeJoined(b, '[', ']', len(l), func(i int) { writePHP(b, l[i]) })
}

// listOf returns the values under keys, in that order.
func listOf(keys []string, get func(string) any) []any {
	l := make([]any, len(keys))
	for i, k := range keys {
		l[i] = get(k)
	}
	return l
}

func writeObject(b *bytes.Buffer, keys []string, get func(string) any) {
	writeJoined(b, '{', '}', len(keys), func(i int) {
		writePHPString(b, keys[i])
		b.WriteByte(':')
		writePHP(b, get(keys[i]))
	})
}

// sortedKeys orders keys numerically-first (canonical integers ascending), then lexically.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, aok := phpIntKey(keys[i])
		c, cok := phpIntKey(keys[j])
		switch {
		case aok && cok:
			return a < c
		case aok != cok:
			return aok
		default:
			return keys[i] < keys[j]
		}
	})
	return keys
}

// isListKeys reports whether sorted keys are exactly "0".."n-1" (an empty set counts:
// PHP encodes an empty array as []).
func isListKeys(sorted []string) bool {
	return isListKeysInOrder(sorted)
}

func isListKeysInOrder(keys []string) bool {
	for i, k := range keys {
		if k != strconv.Itoa(i) {
			return false
		}
	}
	return true
}

// phpIntKey reports whether k is a key PHP would store as an integer ("0", "12", "-3";
// not "012" or "+1") and returns it.
func phpIntKey(k string) (int64, bool) {
	if k == "" || len(k) > 20 {
		return 0, false
	}
	if k != "0" && (k[0] == '0' || strings.HasPrefix(k, "-0") || k[0] == '+') {
		return 0, false
	}
	n, err := strconv.ParseInt(k, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

const hexDigits = "0123456789abcdef"

// phpEscapes is how Json::encode writes the ASCII bytes it does not send as they are
// (other control characters become \u00XX).
var phpEscapes = [utf8.RuneSelf]string{
	'"': `\u0022`, '\\': `\\`, '/': `\/`, '\'': `\u0027`, '<': `\u003C`, '>': `\u003E`, '&': `\u0026`,
	'\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`,
}

func writePHPString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch e := phpEscapes[c]; {
			case e != "":
				b.WriteString(e)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString("\ufffd") // JSON_INVALID_UTF8_SUBSTITUTE
		case r == '\u2028':
			b.WriteString(`\u2028`)
		case r == '\u2029':
			b.WriteString(`\u2029`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

// phpNumber renders a JSON number the way PHP re-encodes what json_decode gave it:
// integers that fit int64 stay integers, everything else becomes a float.
func phpNumber(n json.Number) string {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return strconv.FormatInt(v, 10)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "0"
	}
	return phpFloat(f)
}

// phpFloat formats f like PHP's json_encode with serialize_precision -1 (shortest
// round-trip digits, no forced ".0", exponent form "1.0e+25" outside 1e-4..1e17).
func phpFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "0"
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0"
		}
		return "0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	neg := strings.HasPrefix(e, "-")
	e = strings.TrimPrefix(e, "-")
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1
	sign := ""
	if neg {
		sign = "-"
	}
	if decpt < -3 || decpt > 17 {
		m := digits[:1] + "."
		if len(digits) > 1 {
			m += digits[1:]
		} else {
			m += "0"
		}
		es := "+"
		if exp < 0 {
			es = "-"
			exp = -exp
		}
		return sign + m + "e" + es + strconv.Itoa(exp)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// restError is an error answer: {"error", "error_description", ...additional}.
type restError struct {
	status      int
	code        string
	description string
	argument    string // adds "argument" when set
	fatal       bool   // an uncaught PHP Error: 500 with an HTML body
}

func (e *restError) body() *omap {
	m := newOmap()
	m.set("error", e.code)
	m.set("error_description", e.description)
	if e.argument != "" {
		m.set("argument", e.argument)
	}
	return m
}

func newErr(status int, code, desc string) *restError {
	return &restError{status: status, code: code, description: desc}
}

func argNull(name string) *restError {
	return &restError{status: http.StatusBadRequest, code: "ERROR_ARGUMENT",
		description: "Argument '" + name + "' is null or empty", argument: name}
}

func accessDenied(msg string) *restError {
	d := "Access denied!"
	if msg != "" {
		d += " " + msg
	}
	return newErr(http.StatusForbidden, "ACCESS_DENIED", d)
}

func wrongAuthType(msg string) *restError {
	return newErr(http.StatusForbidden, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method "+msg)
}

// phpFatal stands for a PHP TypeError, which CRestServer does not catch.
func phpFatal(msg string) *restError {
	return &restError{status: http.StatusInternalServerError, code: "", description: msg, fatal: true}
}

// timeInfo is the envelope's "time" object.
type timeInfo struct {
	start, finish time.Time
	processing    time.Duration
	withOperating bool    // LoadLimiter active: add "operating" (and the reset time if known)
	operating     float64 // seconds used in the window
	resetAt       int64   // operating_reset_at; 0: unknown, omitted
}

func unixFloat(t time.Time) float64 {
	return float64(t.UnixMicro()) / 1e6
}

func (ti timeInfo) toMap() *omap {
	m := newOmap()
	s, f := unixFloat(ti.start), unixFloat(ti.finish)
	m.set("start", s)
	m.set("finish", f)
	m.set("duration", f-s)
	m.set("processing", ti.processing.Seconds())
	m.set("date_start", ti.start.Format("2006-01-02T15:04:05-07:00"))
	m.set("date_finish", ti.finish.Format("2006-01-02T15:04:05-07:00"))
	if ti.withOperating {
		if ti.resetAt != 0 {
			m.set("operating_reset_at", ti.resetAt)
		}
		if ti.operating > 0 {
			m.set("operating", ti.operating)
		} else {
			m.set("operating", 0)
		}
	}
	return m
}

// setRESTHeaders writes the headers CRestUtil::sendHeaders sends on every call.
func setRESTHeaders(h http.Header) {
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Headers", "origin, content-type, accept")
	h.Set("X-Content-Type-Options", "nosniff")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body := phpJSON(v)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeRESTError answers e with the REST headers.
func writeRESTError(w http.ResponseWriter, e *restError) {
	if e.fatal {
		writeFatal(w, e.description)
		return
	}
	setRESTHeaders(w.Header())
	writeJSON(w, e.status, e.body())
}

const fatalPage = "<br />\n<b>Fatal error</b>:  Uncaught TypeError: %s in /home/bitrix/www/bitrix/modules/rest/classes/general/rest_provider.php:0\n"

// writeFatal answers like PHP after an uncaught Error: HTTP 500 with an HTML body.
func writeFatal(w http.ResponseWriter, msg string) {
	body := strings.Replace(fatalPage, "%s", htmlEscape(msg), 1)
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(body))
}

func htmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
