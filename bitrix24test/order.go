package bitrix24test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/b24go/bitrix24/internal/phpquery"
)

// Go maps lose the order of keys, PHP arrays keep it. The fake keeps the order where it
// shows on the wire: batch commands run in the order they were sent, and stored options
// come back in the order they were first set. The order is recovered from the raw
// request into a keyOrder tree.

// keyOrder is the order in which a request listed the keys of a parameter map, with
// the same for each nested map. A nil *keyOrder knows no order.
type keyOrder struct {
	keys []string
	kids map[string]*keyOrder
}

// child returns the order below key (nil when unknown).
func (o *keyOrder) child(key string) *keyOrder {
	if o == nil {
		return nil
	}
	return o.kids[key]
}

// list returns the keys in order (nil when unknown).
func (o *keyOrder) list() []string {
	if o == nil {
		return nil
	}
	return o.keys
}

// add appends key when new and returns the order below it.
func (o *keyOrder) add(key string) *keyOrder {
	if c, ok := o.kids[key]; ok {
		return c
	}
	if o.kids == nil {
		o.kids = map[string]*keyOrder{}
	}
	c := &keyOrder{}
	o.keys = append(o.keys, key)
	o.kids[key] = c
	return c
}

// keyOrder returns the order of the request's parameters: the query string's, with the
// body's top-level keys replacing or appended to them like array_replace.
func (in *incoming) keyOrder() *keyOrder {
	if in == nil {
		return nil
	}
	if in.order == nil {
		in.order = formKeyOrder(in.rawQuery)
		var body *keyOrder
		switch in.bodyKind {
		case "json":
			if !jsonTooDeep(in.body, maxJSONDepth) {
				body = jsonKeyOrder(in.body)
			}
		case "form", "multipart":
			body = formKeyOrder(in.formBody)
		}
		for _, k := range body.list() {
			in.order.add(k)
			in.order.kids[k] = body.kids[k]
		}
	}
	return in.order
}

// formKeyOrder reads the order of the names in a form-syntax string ("a[b][]=1&c=2").
func formKeyOrder(q string) *keyOrder {
	root := &keyOrder{}
	for pair := range strings.SplitSeq(q, "&") {
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		name, _, _ = strings.Cut(name, "\x00")
		name = strings.TrimLeft(name, " ")
		top, rest, _ := strings.Cut(name, "[")
		if top = strings.NewReplacer(".", "_", " ", "_").Replace(top); top == "" {
			continue
		}
		o := root.add(top)
		for level := 0; rest != "" && level < phpquery.MaxNestingLevel; level++ {
			key, after, ok := strings.Cut(rest, "]")
			if !ok || strings.TrimSpace(key) == "" { // unclosed, or an append: no name to order
				break
			}
			o = o.add(key)
			if !strings.HasPrefix(after, "[") {
				break
			}
			rest = after[1:]
		}
	}
	return root
}

// jsonKeyOrder reads the order of the keys of a JSON body (nil when it does not decode).
func jsonKeyOrder(body []byte) *keyOrder {
	v, err := decodeOrdered(body)
	if err != nil {
		return nil
	}
	return orderOf(v)
}

func orderOf(v any) *keyOrder {
	o := &keyOrder{}
	switch x := v.(type) {
	case *omap:
		for _, k := range x.keys {
			*o.add(k) = *orderOf(x.vals[k])
		}
	case []any:
		for i, e := range x {
			*o.add(strconv.Itoa(i)) = *orderOf(e)
		}
	}
	return o
}

// decodeOrdered decodes JSON with objects as *omap (keys in order; a repeated key keeps
// its first place and its last value, like json_decode) and numbers as json.Number.
func decodeOrdered(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	return decodeOrderedValue(d)
}

func decodeOrderedValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		m := newOmap()
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeOrderedValue(d)
			if err != nil {
				return nil, err
			}
			m.set(kt.(string), v)
		}
		_, err := d.Token()
		return m, err
	case json.Delim('['):
		l := []any{}
		for d.More() {
			v, err := decodeOrderedValue(d)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		_, err := d.Token()
		return l, err
	}
	return t, nil
}

// orderedCopy copies a parameter value for storage, turning its maps into *omap in the
// order o gives (keys o does not know follow, sorted).
func orderedCopy(v any, o *keyOrder) any {
	switch x := v.(type) {
	case map[string]any:
		m := newOmap()
		for _, k := range orderKeys(x, o.list()) {
			m.set(k, orderedCopy(x[k], o.child(k)))
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = orderedCopy(e, o.child(strconv.Itoa(i)))
		}
		return out
	}
	return deepCopy(v)
}

// orderKeys lists m's keys in the order hint gives, then any others, sorted.
func orderKeys(m map[string]any, hint []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range hint {
		if _, ok := m[k]; ok && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, k := range sortedKeys(m) {
		if !seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// plainCopy copies a value for the package's users: *omap becomes map[string]any.
func plainCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return plainCopyMap(x)
	case *omap:
		return plainCopyMap(x.vals)
	case []any:
		return copyList(x, plainCopy)
	}
	return v
}

func plainCopyMap(m map[string]any) map[string]any { return copyMap(m, plainCopy) }
