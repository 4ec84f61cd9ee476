package bitrix24test

import (
	"encoding/json"
	"strconv"
)

// methodUserOptionSet is CRestProvider::userOptionSet: application context required,
// the flat-params rule, upsert into the (user, client_id) map, result true.
func methodUserOptionSet(c *callCtx) (any, *navData, *restError) {
	opts, err := optionsToSet(c)
	if err != nil {
		return nil, nil, err
	}
	key := optKey{clientID: c.auth.clientID(), userID: c.auth.userID}
	c.s.userOptions[key] = mergeOptions(c.s.userOptions[key], opts)
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
// options/flat rule.
func optionsToSet(c *callCtx) (map[string]any, *restError) {
	if err := requireAppContext(c); err != nil {
		return nil, err
	}
	return optionsParam(c.params)
}

// optionsParam applies `if(!isset($params["options"])) $params['options'] = $params;`
// and `count($params['options']) <= 0` -> ArgumentNullException('options'). A scalar
// "options" makes PHP 8's count() throw a TypeError: HTTP 500 with an HTML body.
func optionsParam(params map[string]any) (map[string]any, *restError) {
	v, ok := params["options"]
	if !ok || v == nil {
		v = params
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return nil, argNull("options")
		}
		return x, nil
	case []any:
		if len(x) == 0 {
			return nil, argNull("options")
		}
		m := make(map[string]any, len(x))
		for i, e := range x {
			m[strconv.Itoa(i)] = e
		}
		return m, nil
	}
	return nil, phpFatal("count(): Argument #1 ($value) must be of type Countable|array, " + phpType(v) + " given")
}

// mergeOptions upserts opts into the stored map m (made when nil) and returns it: keys
// not sent are kept, there is no delete.
func mergeOptions(m, opts map[string]any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	for k, v := range opts {
		m[k] = deepCopy(v)
	}
	return m
}

// optionGet returns `$map[$params['option']] ?? null` when option is set, the whole map
// ([] when empty) otherwise.
func optionGet(m map[string]any, params map[string]any) (any, *navData, *restError) {
	v, ok := params["option"]
	if !ok || v == nil {
		if m == nil {
			return map[string]any{}, nil, nil
		}
		return deepCopyMap(m), nil, nil
	}
	k, kerr := offsetKey(v)
	if kerr != nil {
		return nil, nil, kerr
	}
	return deepCopy(m[k]), nil, nil
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
	m := deepCopyMap(s.userOptions[optKey{clientID: clientID, userID: userID}])
	if m == nil {
		m = map[string]any{}
	}
	return m
}
