// Package phpquery encodes and decodes PHP's query-string bracket syntax: the format
// http_build_query produces and parse_str / $_POST / $_GET read ("a[b][0]=x").
//
// Bitrix24 is a PHP application, so everything it reads from a form body, a query
// string or a batch command goes through PHP's parser. Encode produces strings that PHP
// decodes back to the same tree; Parse reproduces PHP 8's parser, quirks included, for
// the fake server used in tests.
package phpquery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Encode turns params into a query string in PHP bracket syntax.
//
// params is anything encoding/json can marshal to a JSON object (a map, a struct with
// json tags); nil, or a value that marshals to null, gives "". The JSON form is decoded
// with UseNumber, so numbers keep their exact JSON text (1e400 and 12345678901234567890
// are not rounded through float64). Strings that are not valid UTF-8 are replaced by
// encoding/json with U+FFFD; use [EncodeValues] to send raw bytes. See [EncodeValues]
// for the output format and the rejected keys.
func Encode(params any) (string, error) {
	if params == nil {
		return "", nil
	}
	data, err := json.Marshal(params)
	if err != nil {
		return "", fmt.Errorf("cannot be encoded as JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("cannot be decoded from its JSON form: %w", err)
	}
	switch v := v.(type) {
	case nil:
		return "", nil
	case map[string]any:
		return EncodeValues(v)
	default:
		return "", fmt.Errorf("must encode to a JSON object, not %T", v)
	}
}

// EncodeValues is [Encode] for an already-decoded JSON value tree: map[string]any,
// []any, string, json.Number, float64, bool and nil. Any other type is an error.
//
// Output, chosen to match what http_build_query sends:
//   - nested objects become key[sub]=v, lists key[0]=a&key[1]=b (explicit indices, so a
//     list with a nil hole keeps the positions of the other elements);
//   - true is "1", false is "0", numbers keep their JSON text, strings are sent as-is;
//   - nil values and empty objects or lists produce nothing;
//   - object keys are sorted at every level, list order is kept, so output is deterministic;
//   - the whole bracketed name and the value are escaped with url.QueryEscape (space
//     as "+"), so the structural brackets appear as %5B and %5D, like http_build_query
//     writes them. PHP decodes the name before looking for brackets, so this is
//     equivalent to literal brackets, and it is safe inside a URL and inside a batch
//     command that is itself a form value.
//
// A key is rejected when PHP would read it back differently from what was sent: an
// empty key, a key containing '[', ']' or NUL (PHP re-parses brackets and cuts names at
// NUL), a nested key that is a single whitespace character ("a[ ]" means append in
// PHP), and a top-level key PHP drops (only spaces, or a name that '.'/' ' mangling
// turns into a "__Host-"/"__Secure-" prefix). Other top-level '.' and ' ' are accepted,
// as http_build_query accepts them; PHP will read them as '_'. Two top-level keys that
// PHP reads as one name ("a.b" and "a_b") are rejected: PHP would keep only one value.
//
// Error texts do not name this package: callers show them to their users as they are.
func EncodeValues(obj map[string]any) (string, error) {
	keys := slices.Sorted(maps.Keys(obj))
	if err := collision(keys); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, k := range keys {
		if _, ok := topName(k); !ok || strings.ContainsAny(k, "[]\x00") {
			return "", fmt.Errorf("top-level key %q: PHP would not read it back", k)
		}
		if err := encodeValue(&b, k, obj[k]); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// collision refuses two top-level keys that PHP reads as one name ("ui.theme" and
// "ui_theme", " a" and "a"): PHP keeps only the last of them, so a value would be lost
// without a word. keys are sorted; only a renamed key can collide.
func collision(keys []string) error {
	var byName map[string]string
	for _, k := range keys {
		if name, ok := topName(k); ok && name != k {
			byName = make(map[string]string, len(keys))
			break
		}
	}
	if byName == nil {
		return nil
	}
	for _, k := range keys {
		name, ok := topName(k)
		if !ok {
			continue
		}
		if other, dup := byName[name]; dup {
			return fmt.Errorf("top-level keys %q and %q both reach PHP as %q, which keeps only one of them", other, k, name)
		}
		byName[name] = k
	}
	return nil
}

// encodeValue writes v under the raw (unescaped) bracketed name.
func encodeValue(b *strings.Builder, name string, v any) error {
	switch v := v.(type) {
	case nil:
	case string:
		writePair(b, name, v)
	case json.Number:
		writePair(b, name, v.String())
	case bool:
		if v {
			writePair(b, name, "1")
		} else {
			writePair(b, name, "0")
		}
	case float64:
		text, err := json.Marshal(v) // same text Encode would produce; NaN and Inf fail
		if err != nil {
			return fmt.Errorf("value of %q: %w", name, err)
		}
		writePair(b, name, string(text))
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if k == "" || strings.ContainsAny(k, "[]\x00") || (len(k) == 1 && isSpace(k[0])) {
				return fmt.Errorf("key %q in %q: PHP would not read it back", k, name)
			}
			if err := encodeValue(b, name+"["+k+"]", v[k]); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := encodeValue(b, name+"["+strconv.Itoa(i)+"]", e); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("value of %q: unsupported type %T", name, v)
	}
	return nil
}

func writePair(b *strings.Builder, name, value string) {
	if b.Len() > 0 {
		b.WriteByte('&')
	}
	b.WriteString(url.QueryEscape(name))
	b.WriteByte('=')
	b.WriteString(url.QueryEscape(value))
}

// Parse decodes a query string the way PHP 8's parse_str (and $_POST for a urlencoded
// body) does. It never fails and never panics: PHP accepts any input, so does Parse.
//
//   - Pairs are separated by '&'; empty pairs are skipped; a pair without '=' has value "".
//   - Name and value are percent-decoded with '+' as space; an invalid escape is kept
//     literally. The decoded name is cut at the first NUL byte (PHP treats it as a C
//     string) and leading spaces are removed.
//   - Brackets in the decoded name build nesting: "a[b][c]=v" gives {"a":{"b":{"c":"v"}}}.
//     "a[]" (also "a[ ]" with one whitespace character) appends under the next integer
//     key: the largest integer key of that map plus one, or 0. Keys stay strings:
//     "a[]=x&a[]=y" gives {"a":{"0":"x","1":"y"}}.
//   - In the top-level name (before the first '['), '.' and ' ' become '_'. If that
//     first '[' has no ']' after it, it becomes '_' too, as do ' ', '.' and '[' in the
//     rest of the name, which is then a plain name ("a[b.c" is "a_b_c"). An unclosed
//     '[' deeper down ends the name there ("a[b][c" is a[b]). Nested keys are verbatim.
//   - Text after a ']' that is not another '[' is ignored ("a[b]xyz=1" is a[b]=1).
//   - Later pairs overwrite earlier ones; a string in the way of a nested path is
//     replaced by a map.
//   - A name that is empty after this ("=1", "[a]=1") is skipped, and so is one that
//     mangling made start with "__Host-" or "__Secure-" (PHP's cookie-prefix protection).
//   - A name with more than [MaxNestingLevel] bracket groups removes its top-level
//     variable, set by earlier pairs too (php.ini max_input_nesting_level); later pairs
//     may set it again. So no input, however deep, builds a deeper tree.
//
// Leaves are strings and inner nodes map[string]any; there are no slices (see [ToList]).
// Not emulated: max_input_vars and the key order of PHP arrays.
func Parse(query string) map[string]any {
	root := &node{m: map[string]any{}}
	for pair := range strings.SplitSeq(query, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		root.register(unescape(name), unescape(value))
	}
	return root.m
}

// MaxNestingLevel is PHP's default max_input_nesting_level: how many bracket groups a
// name may have ("a[1]…[64]" is kept, one more drops the variable).
const MaxNestingLevel = 64

// node is a map being built by Parse, with what PHP keeps alongside an array.
type node struct {
	m      map[string]any
	kids   map[string]*node // the entries of m that are maps, to descend without lookups by identity
	hasInt bool             // m has a canonical integer key
	maxInt int64            // the largest one; appends use maxInt+1
}

// register stores one decoded pair, following php_register_variable_ex.
func (root *node) register(name, value string) {
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	key, ok := topName(name)
	if !ok {
		return
	}
	name = strings.TrimLeft(name, " ")
	open := strings.IndexByte(name, '[')
	if open < 0 {
		root.assign(key, false, value)
		return
	}
	rest := name[open:] // starts at the '[' being parsed
	cur, appendKey, top := root, false, key
	for level := 1; ; level++ {
		if level > MaxNestingLevel { // PHP drops the whole top-level variable
			delete(root.m, top)
			delete(root.kids, top)
			return
		}
		start, j := 1, 1
		if j < len(rest) && isSpace(rest[j]) {
			j++
		}
		var next string
		nextAppend := j < len(rest) && rest[j] == ']'
		if !nextAppend {
			k := strings.IndexByte(rest[j:], ']')
			if k < 0 {
				if cur == root { // unclosed first bracket: a plain, mangled name
					key += "_" + underscore(rest[start:], "[. ")
				}
				break
			}
			j += k
			next = rest[start:j]
		}
		if cur = cur.child(key, appendKey); cur == nil {
			return
		}
		key, appendKey = next, nextAppend
		rest = rest[j+1:]
		if rest == "" || rest[0] != '[' {
			break
		}
	}
	cur.assign(key, appendKey, value)
}

// topName returns the top-level variable name PHP derives from a decoded name, and
// false if PHP drops the variable.
func topName(name string) (string, bool) {
	name = strings.TrimLeft(name, " ")
	base := name
	if i := strings.IndexByte(name, '['); i >= 0 {
		base = name[:i]
	}
	base = underscore(base, ". ")
	for _, p := range [...]string{"__Host-", "__Secure-"} {
		if strings.HasPrefix(base, p) && !strings.HasPrefix(name, p) {
			return "", false
		}
	}
	return base, base != ""
}

// underscore replaces the ASCII bytes in chars by '_'. It works on bytes, not runes, so
// invalid UTF-8 survives unchanged (strings.Map would turn it into U+FFFD).
func underscore(s, chars string) string {
	if !strings.ContainsAny(s, chars) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if strings.IndexByte(chars, c) >= 0 {
			b[i] = '_'
		}
	}
	return string(b)
}

// child returns the map under key (or under the next index when appendKey), replacing
// a string there by a new map. It returns nil when PHP cannot append (index overflow).
func (n *node) child(key string, appendKey bool) *node {
	if appendKey {
		var ok bool
		if key, ok = n.nextKey(); !ok {
			return nil
		}
	} else if c, ok := n.kids[key]; ok {
		return c
	}
	c := &node{m: map[string]any{}}
	n.put(key, c.m)
	if n.kids == nil {
		n.kids = map[string]*node{}
	}
	n.kids[key] = c
	return c
}

// assign stores a leaf value under key (or under the next index when appendKey).
func (n *node) assign(key string, appendKey bool, value string) {
	if appendKey {
		var ok bool
		if key, ok = n.nextKey(); !ok {
			return
		}
	}
	n.put(key, value)
	delete(n.kids, key)
}

func (n *node) put(key string, v any) {
	n.m[key] = v
	if i, ok := intKey(key); ok && (!n.hasInt || i > n.maxInt) {
		n.hasInt, n.maxInt = true, i
	}
}

// nextKey is PHP 8's next free index: largest integer key + 1 (negative keys count),
// 0 for a map without integer keys; PHP refuses to append past math.MaxInt64.
func (n *node) nextKey() (string, bool) {
	switch {
	case !n.hasInt:
		return "0", true
	case n.maxInt == math.MaxInt64:
		return "", false
	default:
		return strconv.FormatInt(n.maxInt+1, 10), true
	}
}

// intKey reports whether PHP stores key as an integer key: canonical decimal form
// ("0", "-5"; not "05", "-0", "+1") within int64.
func intKey(key string) (int64, bool) {
	if key == "" || len(key) > 20 || (key[0] != '-' && (key[0] < '0' || key[0] > '9')) {
		return 0, false
	}
	i, err := strconv.ParseInt(key, 10, 64)
	return i, err == nil && strconv.FormatInt(i, 10) == key
}

// isSpace is C's isspace in the "C" locale, which PHP uses for "[ ]".
func isSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

// unescape is PHP's urldecode: '+' is a space, "%XX" a byte, anything else literal.
func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0:
			b = append(b, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// ToList reports whether m's keys are exactly "0".."n-1" and, if so, returns its values
// in that order. PHP's json_encode writes such arrays as JSON lists, so the fake server
// uses it to turn parsed maps back into lists. An empty map is an empty list, as in PHP.
// PHP also requires the keys to have been inserted in order; Parse does not keep
// insertion order, so {"1":…,"0":…} counts as a list here.
func ToList(m map[string]any) ([]any, bool) {
	list := make([]any, len(m))
	for i := range list {
		v, ok := m[strconv.Itoa(i)]
		if !ok {
			return nil, false
		}
		list[i] = v
	}
	return list, true
}
