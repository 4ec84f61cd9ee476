package bitrix24

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// What a batch command's query string would change, refused before anything is sent.
// A command is a query string, which carries only strings: numbers and booleans arrive
// as their text ("5", true as "1", false as "0"), which is how the server reads them
// for most methods; nil values and empty objects or lists vanish. user.option.set and
// app.option.set store what they receive as it is, so there only strings may travel.

// checkBatchParams refuses params that the command's query string would not carry as
// the caller wrote them, and queries that the server's parse_str would cut.
func checkBatchParams(field, method string, params any, query string) error {
	if n := queryPairs(query); n > maxInputVars {
		return invalid(field, fmt.Sprintf("encodes to %d query pairs; the server reads at most %d per batch command (PHP max_input_vars) and drops the rest: send it with Call, whose JSON body has no such cap, or split it", n, maxInputVars))
	}
	if params == nil {
		return nil
	}
	tree, err := jsonTree(params)
	if err != nil {
		return nil // the encoder reports it
	}
	storesAsIs := storesParamsAsIs(method)
	if where, what := droppedInQuery(tree, storesAsIs); what != "" {
		hint := "send it with Call, whose JSON body keeps it"
		if storesAsIs {
			hint = "use strings, or the service's Set, which sends JSON and keeps the types"
		}
		return invalid(field+where, what+" in a batch, whose commands are query strings: "+hint)
	}
	return nil
}

// storesParamsAsIs: methods that store the values they receive without reading them as
// numbers or flags, so a number sent as text would come back as a string.
func storesParamsAsIs(method string) bool {
	switch strings.ToLower(method) {
	case "user.option.set", "app.option.set":
		return true
	}
	return false
}

// droppedInQuery finds the first value that a query string would drop (nil, an empty
// object or list) or, with strict, that it would change (a number or a boolean), and
// says where it is and what happens to it. The top level may be empty: no query.
func droppedInQuery(tree any, strict bool) (where, what string) {
	if m, ok := tree.(map[string]any); ok {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if where, what := dropped(m[k], strict); what != "" {
				return fmt.Sprintf("[%q]", k) + where, what
			}
		}
	}
	return "", ""
}

func dropped(v any, strict bool) (where, what string) {
	switch v := v.(type) {
	case bool, json.Number:
		if strict {
			return lostInQuery(v)
		}
	case nil:
		return lostInQuery(v)
	case map[string]any:
		if len(v) == 0 {
			return lostInQuery(v)
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if where, what := dropped(v[k], strict); what != "" {
				return fmt.Sprintf("[%q]", k) + where, what
			}
		}
	case []any:
		if len(v) == 0 {
			return lostInQuery(v)
		}
		for i, e := range v {
			if where, what := dropped(e, strict); what != "" {
				return "[" + strconv.Itoa(i) + "]" + where, what
			}
		}
	}
	return "", ""
}
