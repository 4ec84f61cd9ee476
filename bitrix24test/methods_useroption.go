package bitrix24test

import (
	"encoding/json"
	"strconv"
)

// methodUserOptionSet is CRestProvider::userOptionSet: application context required,
// the flat-params rule, upsert into the (user, client_id) map, result true.
func methodUserOptionSet(c *callCtx) (any, *navData, *restError) {
	opts, order, err := optionsToSet(c)
	if err != nil {
		return nil, nil, err
	}
	key := optKey{clientID: c.auth.clientID(), userID: c.auth.userID}
	c.s.userOptions[key] = mergeOptions(c.s.userOptions[key], opts, order)
	return true, nil, nil
}

// methodUserOptionGet is CRestProvider::userOptionGet.
func methodUserOptionGet(c *callCtx) (any, *navData, *restError) {
	if err := requireAppContext(c); err != nil {
		return nil, nil, err
	}
	m := c.s.userOptions[optKey{clientID: c.auth.clientID(), userID: c.auth.userID}]
	return optionGet(m, c.params)
}

// requireAppContext is the first check of every option method: a webhook has no
// client_id.
func requireAppContext(c *callCtx) *restError {
	if c.auth.clientID() == "" {
		return accessDenied("Application context required")
	}
	return nil
}

// optionsToSet is how both setters start: the application context, then the
// options/flat rule. order is the order in which the request listed the options.
func optionsToSet(c *callCtx) (map[string]any, *keyOrder, *restError) {
	if err := requireAppContext(c); err != nil {
		return nil, nil, err
	}
	opts, nested, err := optionsParam(c.params)
	if err != nil {
		return nil, nil, err
	}
	order := c.in.keyOrder()
	if nested {
		order = order.child("options")
	}
	return opts, order, nil
}

// optionsParam applies `if(!isset($params["options"])) $params['options'] = $params;`
// and `count($params['options']) <= 0` -> ArgumentNullException('options'). A scalar
// "options" makes PHP 8's count() throw a TypeError: HTTP 500 with an HTML body.
// nested reports that the options came from "options", not the flat parameters.
func optionsParam(params map[string]any) (opts map[string]any, nested bool, err *restError) {
	v, nested := params["options"]
	if !nested || v == nil {
		v, nested = params, false
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return nil, nested, argNull("options")
		}
		return x, nested, nil
	case []any:
		if len(x) == 0 {
			return nil, nested, argNull("options")
		}
		m := make(map[string]any, len(x))
		for i, e := range x {
			m[strconv.Itoa(i)] = e
		}
		return m, nested, nil
	}
	return nil, nested, phpFatal("count(): Argument #1 ($value) must be of type Countable|array, " + phpType(v) + " given")
}

// mergeOptions upserts opts into the stored map m (made when nil) and returns it: keys
// not sent are kept, there is no delete. New keys are added in the order the request
// listed them, as PHP's array keeps insertion order.
func mergeOptions(m *omap, opts map[string]any, order *keyOrder) *omap {
	if m == nil {
		m = newOmap()
	}
	for _, k := range orderKeys(opts, order.list()) {
		m.set(k, orderedCopy(opts[k], order.child(k)))
	}
	return m
}

// optionGet returns `$map[$params['option']] ?? null` when option is set, the whole map
// ([] when empty) otherwise.
func optionGet(m *omap, params map[string]any) (any, *navData, *restError) {
	if m == nil {
		m = newOmap()
	}
	v, ok := params["option"]
	if !ok || v == nil {
		return deepCopy(m), nil, nil
	}
	k, kerr := offsetKey(v)
	if kerr != nil {
		return nil, nil, kerr
	}
	stored, _ := m.get(k)
	return deepCopy(stored), nil, nil
}

// offsetKey converts a value used as a PHP array offset to the key string.
func offsetKey(v any) (string, *restError) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return strconv.FormatInt(n, 10), nil
		}
		f, _ := x.Float64()
		return strconv.FormatInt(int64(f), 10), nil
	}
	return "", phpFatal("Cannot access offset of type " + phpType(v) + " in isset or empty")
}

// phpType is PHP's get_debug_type for request values.
func phpType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "int"
		}
		return "float"
	case map[string]any, []any:
		return "array"
	}
	return "mixed"
}

// UserOptions returns a copy of the user options application clientID stored for
// portal user userID (empty map when none).
func (s *Server) UserOptions(clientID string, userID int) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return optionsCopy(s.userOptions[optKey{clientID: clientID, userID: userID}])
}

// optionsCopy is a stored option map as the package's users get it.
func optionsCopy(m *omap) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return plainCopyMap(m.vals)
}
