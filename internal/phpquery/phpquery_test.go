package phpquery

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	type contact struct {
		Value string `json:"VALUE"`
		Type  string `json:"VALUE_TYPE,omitempty"`
	}
	type fields struct {
		Title  string    `json:"TITLE"`
		Phones []contact `json:"PHONE,omitempty"`
		Skip   *string   `json:"SKIP"`
	}
	tests := []struct {
		name   string
		params any
		want   string
	}{
		{"nil", nil, ""},
		{"nil map", map[string]any(nil), ""},
		{"nil pointer", (*fields)(nil), ""},
		{"empty map", map[string]any{}, ""},
		{"sorted top-level keys", map[string]any{"b": "2", "a": "1", "C": "3"}, "C=3&a=1&b=2"},
		{"nested map", map[string]any{"fields": map[string]any{"TITLE": "x", "A": map[string]any{"z": "1", "y": "2"}}},
			"fields%5BA%5D%5By%5D=2&fields%5BA%5D%5Bz%5D=1&fields%5BTITLE%5D=x"},
		{"list", map[string]any{"ids": []int{3, 1, 2}}, "ids%5B0%5D=3&ids%5B1%5D=1&ids%5B2%5D=2"},
		{"list of maps", map[string]any{"f": []map[string]string{{"V": "1"}, {"V": "2"}}},
			"f%5B0%5D%5BV%5D=1&f%5B1%5D%5BV%5D=2"},
		{"struct with json tags", map[string]any{"fields": fields{Title: "Deal", Phones: []contact{{Value: "+7 900", Type: "WORK"}}}},
			"fields%5BPHONE%5D%5B0%5D%5BVALUE%5D=%2B7+900&fields%5BPHONE%5D%5B0%5D%5BVALUE_TYPE%5D=WORK&fields%5BTITLE%5D=Deal"},
		{"top-level struct", fields{Title: "T"}, "TITLE=T"},
		{"int", map[string]any{"n": 42, "neg": -7, "max": int64(math.MaxInt64), "umax": uint64(math.MaxUint64)},
			"max=9223372036854775807&n=42&neg=-7&umax=18446744073709551615"},
		{"float", map[string]any{"f": 1.5, "g": -0.25, "e": 1e21}, "e=1e%2B21&f=1.5&g=-0.25"},
		{"big json numbers", map[string]any{"a": json.Number("12345678901234567890"), "b": json.Number("1e400"), "c": json.Number("0.10000000000000000000001")},
			"a=12345678901234567890&b=1e400&c=0.10000000000000000000001"},
		{"bools", map[string]any{"t": true, "f": false, "l": []bool{true, false}}, "f=0&l%5B0%5D=1&l%5B1%5D=0&t=1"},
		{"nil omitted", map[string]any{"a": nil, "b": "x", "c": map[string]any{"d": nil, "e": "1"}}, "b=x&c%5Be%5D=1"},
		{"nil in list keeps indices", map[string]any{"a": []any{1, nil, 3}}, "a%5B0%5D=1&a%5B2%5D=3"},
		{"empty containers omitted", map[string]any{"a": map[string]any{}, "b": []any{}, "c": map[string]any{"d": nil}, "e": []any{nil, map[string]any{}}, "z": "1"}, "z=1"},
		{"empty string kept", map[string]any{"a": ""}, "a="},
		{"cyrillic", map[string]any{"Имя": "Привет мир"}, "%D0%98%D0%BC%D1%8F=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82+%D0%BC%D0%B8%D1%80"},
		{"emoji", map[string]any{"e": "😀"}, "e=%F0%9F%98%80"},
		{"ampersand", map[string]any{"v": "a&b"}, "v=a%26b"},
		{"equals", map[string]any{"v": "a=b"}, "v=a%3Db"},
		{"brackets", map[string]any{"v": "[x]"}, "v=%5Bx%5D"},
		{"percent", map[string]any{"v": "100%"}, "v=100%25"},
		{"plus", map[string]any{"v": "1+1"}, "v=1%2B1"},
		{"hash", map[string]any{"v": "#1"}, "v=%231"},
		{"space", map[string]any{"v": "a b"}, "v=a+b"},
		{"special chars in keys", map[string]any{"a&=%+# b": map[string]any{"k&=%+#.": "v"}},
			"a%26%3D%25%2B%23+b%5Bk%26%3D%25%2B%23.%5D=v"},
		{"result reference", map[string]any{"fields": map[string]any{"ID": "$result[cmd][ID]"}},
			"fields%5BID%5D=%24result%5Bcmd%5D%5BID%5D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Encode(tt.params)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params any
	}{
		{"slice", []any{"a"}},
		{"string", "a=1"},
		{"number", 1},
		{"bool", true},
		{"marshal failure", map[string]any{"ch": make(chan int)}},
		{"infinite float", map[string]any{"f": math.Inf(1)}},
		{"empty top-level key", map[string]any{"": "1"}},
		{"spaces-only top-level key", map[string]any{"  ": "1"}},
		{"mangled to __Host-", map[string]any{"..Host-x": "1"}},
		{"top-level [", map[string]any{"a[b": "1"}},
		{"top-level ]", map[string]any{"a]": "1"}},
		{"top-level NUL", map[string]any{"a\x00b": "1"}},
		{"empty nested key", map[string]any{"a": map[string]any{"": "1"}}},
		{"nested [", map[string]any{"a": map[string]any{"b[": "1"}}},
		{"nested ]", map[string]any{"a": map[string]any{"b": map[string]any{"]c": "1"}}}},
		{"nested NUL", map[string]any{"a": map[string]any{"\x00": "1"}}},
		{"nested space key", map[string]any{"a": map[string]any{" ": "1"}}},
		{"nested tab key", map[string]any{"a": map[string]any{"\t": "1"}}},
		{"bad key inside list", map[string]any{"a": []any{map[string]any{"x]": "1"}}}},
		{"bad key with nil value", map[string]any{"a": map[string]any{"[": nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Encode(tt.params)
			require.Error(t, err)
			assert.Empty(t, got)
		})
	}
}

func TestEncodeValues(t *testing.T) {
	t.Parallel()
	got, err := EncodeValues(map[string]any{"a": []any{float64(2), json.Number("3"), "\xff\x00", true, nil}})
	require.NoError(t, err)
	assert.Equal(t, "a%5B0%5D=2&a%5B1%5D=3&a%5B2%5D=%FF%00&a%5B3%5D=1", got)
	assert.Equal(t, map[string]any{"a": map[string]any{"0": "2", "1": "3", "2": "\xff\x00", "3": "1"}}, Parse(got))

	for _, bad := range []any{42, int64(1), map[string]string{"b": "c"}, []string{"x"}, math.NaN()} {
		_, err := EncodeValues(map[string]any{"a": bad})
		assert.Error(t, err, "%#v", bad)
	}
	got, err = EncodeValues(nil)
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestParse(t *testing.T) {
	t.Parallel()
	type m = map[string]any
	tests := []struct {
		name  string
		query string
		want  m
	}{
		{"empty", "", m{}},
		{"simple", "a=1&b=2", m{"a": "1", "b": "2"}},
		{"empty pairs skipped", "&&a=1&&", m{"a": "1"}},
		{"no equals", "a&b=", m{"a": "", "b": ""}},
		{"value with equals", "a=b=c", m{"a": "b=c"}},
		{"semicolon is not a separator", "a=1;b=2", m{"a": "1;b=2"}},
		{"plus and escapes", "a=x+y%20z%26%3D%2B", m{"a": "x y z&=+"}},
		{"lowercase hex", "a=%e2%82%ac", m{"a": "€"}},
		{"invalid escapes kept", "a=%zz%4%&b=%", m{"a": "%zz%4%", "b": "%"}},
		{"escaped name", "%61%5Bb%5D=1", m{"a": m{"b": "1"}}},
		{"nested", "a[b][c]=v", m{"a": m{"b": m{"c": "v"}}}},
		{"nested siblings", "a[b]=1&a[c]=2", m{"a": m{"b": "1", "c": "2"}}},
		{"append", "a[]=x&a[]=y", m{"a": m{"0": "x", "1": "y"}}},
		{"append after max int key", "a[5]=x&a[2]=y&a[]=z", m{"a": m{"5": "x", "2": "y", "6": "z"}}},
		{"append ignores non-canonical keys", "a[05]=x&a[x]=y&a[-0]=z&a[]=w", m{"a": m{"05": "x", "x": "y", "-0": "z", "0": "w"}}},
		{"append after negative key", "a[-5]=x&a[]=y", m{"a": m{"-5": "x", "-4": "y"}}},
		{"append past max int64 dropped", "a[9223372036854775807]=x&a[]=y&a[][b]=z", m{"a": m{"9223372036854775807": "x"}}},
		{"append creates nested maps", "a[][b]=1&a[][b]=2", m{"a": m{"0": m{"b": "1"}, "1": m{"b": "2"}}}},
		{"append with whitespace index", "a[ ]=x&a[%09]=y", m{"a": m{"0": "x", "1": "y"}}},
		{"space-prefixed index kept", "a[ b]=1&a[b ]=2", m{"a": m{" b": "1", "b ": "2"}}},
		{"nested keys verbatim", "a[b.c d]=1&a[x[y]=2", m{"a": m{"b.c d": "1", "x[y": "2"}}},
		{"dot and space in top-level", "a.b=1&c+d=2&e%20f[g.h]=3", m{"a_b": "1", "c_d": "2", "e_f": m{"g.h": "3"}}},
		{"leading spaces stripped", "+a=1&%20%20b[c]=2", m{"a": "1", "b": m{"c": "2"}}},
		{"unclosed top-level bracket", "a[b=1", m{"a_b": "1"}},
		{"unclosed top-level bracket mangles rest", "x.y[b.c d[e=1", m{"x_y_b_c_d_e": "1"}},
		{"unclosed nested bracket", "a[b][c=1", m{"a": m{"b": "1"}}},
		{"unclosed bracket after append", "a[][c=1", m{"a": m{"0": "1"}}},
		{"trailing text ignored", "a[b]xyz=1", m{"a": m{"b": "1"}}},
		{"trailing brackets after text ignored", "a[b]x[c]=1", m{"a": m{"b": "1"}}},
		{"later overwrites", "a=1&a=2&b[c]=1&b[c]=2", m{"a": "2", "b": m{"c": "2"}}},
		{"string replaced by map", "a=1&a[b]=2", m{"a": m{"b": "2"}}},
		{"map replaced by string", "a[b]=2&a=1", m{"a": "1"}},
		{"nested string replaced by map", "a[b]=1&a[b][c]=2", m{"a": m{"b": m{"c": "2"}}}},
		{"empty name skipped", "=1&[a]=2&%20=3&[=4&b=5", m{"b": "5"}},
		{"name cut at NUL", "a%00b=1&c[d%00e]=2&f[g]%00[h]=3&%00x=4", m{"a": "1", "c_d": "2", "f": m{"g": "3"}}},
		{"value keeps NUL", "a=x%00y", m{"a": "x\x00y"}},
		{"invalid UTF-8 kept in names", "%AD.x[%FF]=1&%FE[%80=2", m{"\xad_x": m{"\xff": "1"}, "\xfe_\x80": "2"}},
		{"mangled __Host- dropped", "..Host-x=1&__Host-y=2&+__Secure-z=3&_.Secure-w=4", m{"__Host-y": "2", "__Secure-z": "3"}},
		{"numeric top-level key", "0=a&1[]=b", m{"0": "a", "1": m{"0": "b"}}},
		{"unicode", "%D0%B8%D0%BC%D1%8F[%F0%9F%98%80]=%D0%B4%D0%B0", m{"имя": m{"😀": "да"}}},
		{"result reference value", "cmd[ID]=%24result%5Bcmd%5D%5BID%5D", m{"cmd": m{"ID": "$result[cmd][ID]"}}},
		{"literal reference value", "cmd[ID]=$result[cmd][ID]", m{"cmd": m{"ID": "$result[cmd][ID]"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, Parse(tt.query))
		})
	}
}

func TestToList(t *testing.T) {
	t.Parallel()
	list, ok := ToList(map[string]any{"1": "b", "0": "a", "2": map[string]any{}})
	require.True(t, ok)
	assert.Equal(t, []any{"a", "b", map[string]any{}}, list)

	list, ok = ToList(map[string]any{})
	require.True(t, ok)
	assert.Equal(t, []any{}, list)

	for _, m := range []map[string]any{{"1": "a"}, {"0": "a", "2": "b"}, {"0": "a", "x": "b"}, {"00": "a"}, {"a": "b"}} {
		_, ok := ToList(m)
		assert.False(t, ok, "%v", m)
	}
}

// stringify is what Parse(Encode(v)) must give for v: scalars as their query text,
// lists as maps keyed "0".."n-1", nils and empty containers dropped.
func stringify(v any) (any, bool) {
	switch v := v.(type) {
	case nil:
		return nil, false
	case string:
		return v, true
	case bool:
		if v {
			return "1", true
		}
		return "0", true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return string(b), true
	case json.Number:
		return v.String(), true
	case []any:
		m := make(map[string]any, len(v))
		for i, e := range v {
			m[strconv.Itoa(i)] = e
		}
		return stringify(m)
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if s, ok := stringify(e); ok {
				out[k] = s
			}
		}
		return out, len(out) > 0
	}
	panic("unexpected type")
}

func stringifyObject(obj map[string]any) map[string]any {
	s, _ := stringify(obj)
	return s.(map[string]any)
}

const (
	keyChars   = "aZ09_-~!\"#$%&'()*+,/:;<=>?@\\^`{|}\tжЯ😀"
	valueChars = keyChars + " .[]\x00\x01\n\r\u00a0\u2028€"
)

func randString(r *rand.Rand, chars []rune, maxLen int) string {
	var b strings.Builder
	for range r.IntN(maxLen + 1) {
		b.WriteRune(chars[r.IntN(len(chars))])
	}
	return b.String()
}

func randKey(r *rand.Rand, top bool) string {
	chars := []rune(keyChars)
	if !top {
		chars = append(chars, ' ', '.')
	}
	for {
		k := randString(r, chars, 6)
		if k != "" && (top || len(k) != 1 || !isSpace(k[0])) {
			return k
		}
	}
}

func randValue(r *rand.Rand, depth int) any {
	n := 7
	if depth >= 4 {
		n = 5 // leaves only
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		switch r.IntN(3) {
		case 0:
			return r.Int64() - math.MaxInt64/2
		case 1:
			return r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
		default:
			return json.Number("12345678901234567890123e-400")
		}
	case 3, 4:
		return randString(r, []rune(valueChars), 12)
	case 5:
		list := make([]any, r.IntN(4))
		for i := range list {
			list[i] = randValue(r, depth+1)
		}
		return list
	default:
		obj := map[string]any{}
		for range r.IntN(4) {
			obj[randKey(r, false)] = randValue(r, depth+1)
		}
		return obj
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(24, 42))
	for i := range 2000 {
		obj := map[string]any{}
		for range r.IntN(5) {
			obj[randKey(r, true)] = randValue(r, 0)
		}
		// Encode goes through encoding/json: int64 stays exact, floats keep Marshal's text.
		enc, err := Encode(obj)
		require.NoError(t, err, "case %d: %#v", i, obj)
		require.Equal(t, stringifyObject(obj), Parse(enc), "case %d: %q", i, enc)

		enc2, err := EncodeValues(toJSONTree(obj).(map[string]any))
		require.NoError(t, err)
		require.Equal(t, enc, enc2, "case %d", i)
	}
}

// toJSONTree converts int64 leaves to json.Number, the form Encode decodes them to.
func toJSONTree(v any) any {
	switch v := v.(type) {
	case int64:
		return json.Number(strconv.FormatInt(v, 10))
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = toJSONTree(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = toJSONTree(e)
		}
		return out
	}
	return v
}

func TestRoundTripRawBytes(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	for range 500 {
		raw := make([]byte, r.IntN(16))
		for i := range raw {
			raw[i] = byte(r.IntN(256))
		}
		key := "k" + strings.NewReplacer("[", "", "]", "", "\x00", "").Replace(string(raw))
		obj := map[string]any{"a": map[string]any{key: string(raw)}, "b": []any{string(raw)}}
		enc, err := EncodeValues(obj)
		require.NoError(t, err)
		require.Equal(t, stringifyObject(obj), Parse(enc), "%q", enc)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("a", "b", "c", uint8(0), false)
	f.Add("fields", "TITLE", "$result[cmd][ID]", uint8(2), false)
	f.Add("ids", "x", "a&b=c[d]%e+f#g h", uint8(3), true)
	f.Add("Имя", "😀", "Привет\x00мир", uint8(1), true)
	f.Add("a.b", " ", "", uint8(2), false)
	f.Add("__Host-x", "[", "]", uint8(1), false)
	f.Add("x", "\xff", "\xfe\x80", uint8(4), true)
	f.Fuzz(func(t *testing.T, top, key, val string, depth uint8, list bool) {
		var v any = val
		for i := range int(depth % 5) {
			switch {
			case list && i%2 == 0:
				v = []any{nil, v}
			case i == 3:
				v = map[string]any{key: v, key + "2": true, "n": json.Number("-1.5e9")}
			default:
				v = map[string]any{key: v}
			}
		}
		obj := map[string]any{top: v}
		enc, err := EncodeValues(obj)
		if err != nil {
			t.Skip()
		}
		if strings.ContainsAny(top, ". ") { // PHP renames these top-level keys
			t.Skip()
		}
		require.Equal(t, stringifyObject(obj), Parse(enc), "%q", enc)
		if utf8.ValidString(top) && utf8.ValidString(key) && utf8.ValidString(val) {
			enc2, err := Encode(obj)
			require.NoError(t, err)
			require.Equal(t, enc, enc2)
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "a=1", "a[b][]=1&a[b][]=2", "a[b=1", "a[][c=1", "%zz=%", "a[%20]=1", "a.b c[d]xyz[e]=1", "a[9223372036854775807]=1&a[]=2", "\x00[=&&=", "..Host-x=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		checkTree(t, Parse(q), true)
	})
}

// checkTree asserts the shape Parse promises: string leaves, map[string]any inner
// nodes, no empty maps below the root, no empty top-level names.
func checkTree(t *testing.T, m map[string]any, root bool) {
	if !root && len(m) == 0 {
		t.Fatal("empty nested map")
	}
	_, _ = ToList(m)
	for k, v := range m {
		if root && k == "" {
			t.Fatal("empty top-level name")
		}
		switch v := v.(type) {
		case string:
		case map[string]any:
			checkTree(t, v, false)
		default:
			t.Fatalf("unexpected %T", v)
		}
	}
}

func TestParseNestingLimit(t *testing.T) {
	t.Parallel()
	deep := func(levels int) string { return "a" + strings.Repeat("[b]", levels) + "=1" }
	nested := func(levels int) any {
		var v any = "1"
		for range levels {
			v = map[string]any{"b": v}
		}
		return v
	}
	require.Equal(t, map[string]any{"a": nested(MaxNestingLevel)}, Parse(deep(MaxNestingLevel)))
	// One level more drops the variable, earlier pairs included; other names stay.
	require.Equal(t, map[string]any{"x": "2"}, Parse("a[c]=0&x=2&"+deep(MaxNestingLevel+1)))
	// A later pair sets it again.
	require.Equal(t, map[string]any{"a": map[string]any{"c": "3"}}, Parse(deep(MaxNestingLevel+1)+"&a[c]=3"))
	// Two million levels (6 MB) give an empty tree, not a deep one.
	require.Empty(t, Parse(deep(2_000_000)))
}
