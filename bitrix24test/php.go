package bitrix24test

import (
	"encoding/json"
	"strconv"
	"strings"
)

// PHP value semantics the fake reproduces for request parameters and stored values.

// scalarString converts a PHP scalar to its string form; ok is false for null and arrays.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return phpNumber(x), true
	case bool:
		if x {
			return "1", true
		}
		return "", true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return phpFloat(x), true
	}
	return "", false
}

// phpIntval is PHP's intval for request values.
func phpIntval(v any) int {
	switch x := v.(type) {
	case bool:
		if x {
			return 1
		}
		return 0
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return int(n)
		}
		f, _ := x.Float64()
		return int(f)
	case string:
		s := strings.TrimLeft(x, " \t\n\r\v\f")
		end := 0
		if end < len(s) && (s[end] == '-' || s[end] == '+') {
			end++
		}
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		n, _ := strconv.Atoi(s[:end])
		return n
	case map[string]any:
		if len(x) > 0 {
			return 1
		}
		return 0
	case []any:
		if len(x) > 0 {
			return 1
		}
		return 0
	case *omap: // an array a batch reference substituted (a row, a result section)
		if len(x.vals) > 0 {
			return 1
		}
		return 0
	}
	return 0
}

// phpTruthy is PHP's boolean conversion for request values.
func phpTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != "" && x != "0"
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case int:
		return x != 0
	case int64:
		return x != 0
	case float64:
		return x != 0
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case *omap:
		return x.len() > 0
	}
	return true
}

// phpEmpty is PHP's empty().
func phpEmpty(v any) bool { return !phpTruthy(v) }

// deepCopy copies request and storage values so stored state never aliases: PHP arrays
// are values, copied on assignment.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return deepCopyMap(x)
	case []any:
		return copyList(x, deepCopy)
	case *omap:
		m := newOmap()
		for _, k := range x.keys {
			m.set(k, deepCopy(x.vals[k]))
		}
		return m
	}
	return v
}

func deepCopyMap(m map[string]any) map[string]any { return copyMap(m, deepCopy) }

// copyMap copies m, each value with cp.
func copyMap(m map[string]any, cp func(any) any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cp(v)
	}
	return out
}

// copyList copies l, each element with cp.
func copyList(l []any, cp func(any) any) []any {
	out := make([]any, len(l))
	for i, e := range l {
		out[i] = cp(e)
	}
	return out
}
