package bitrix24

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"github.com/b24go/bitrix24/internal/phpquery"
)

// What a call must be to travel in an automatic batch: see [WithAutoBatch].

// batchableMethod reports whether the server runs method inside a batch: not batch
// itself, nor download and upload. The server compares case-sensitively and then
// lower-cases the name, so any spelling is kept out here.
func batchableMethod(method string) bool {
	switch strings.ToLower(method) {
	case "batch", "download", "upload":
		return false
	}
	return true
}

// authParams are the keys through which a request names its credentials: inside a batch
// command they would compete with the batch's own.
var authParams = map[string]bool{
	"auth": true, "access_token": true, "auth_connector": true, "aplogin": true, "ap": true, "state": true,
}

// batchCommand renders the JSON params of a call as a batch command, "method?query",
// and reports whether the server reads the query back exactly as it would read the JSON
// body: only strings, in non-empty maps and lists, survive that. Numbers and booleans
// would arrive as strings, nil and empty containers would vanish. Values the server
// would treat as references to other commands ("$result[...]") do not qualify either.
func batchCommand(method string, body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var params map[string]any
	if err := dec.Decode(&params); err != nil {
		return "", false
	}
	if len(params) == 0 {
		return method, true
	}
	for k, v := range params {
		if authParams[strings.ToLower(k)] || !stringTree(k, v) {
			return "", false
		}
	}
	if strings.HasSuffix(strings.ToLower(method), "option.set") {
		// A scalar "options" makes the server fail with a fatal error, which would fail
		// every other command of the batch: let it fail alone.
		switch params["options"].(type) {
		case map[string]any, []any, nil:
		default:
			return "", false
		}
	}
	query, err := phpquery.EncodeValues(params)
	if err != nil || queryPairs(query) > maxInputVars {
		// Beyond max_input_vars the server's parse_str drops the rest of the query;
		// a JSON body has no such cap.
		return "", false
	}
	// The proof: what PHP parses back is the tree that was sent.
	if !reflect.DeepEqual(phpquery.Parse(query), listsAsMaps(params)) {
		return "", false
	}
	return method + "?" + query, true
}

// maxInputVars is PHP's max_input_vars (1000 by default; a portal's own setting is not
// documented). The server reads each batch command's query with parse_str, which
// honours it: pairs beyond it are silently dropped (reference §13.9).
const maxInputVars = 1000

// queryPairs counts the name=value pairs of an encoded query.
func queryPairs(query string) int {
	if query == "" {
		return 0
	}
	return strings.Count(query, "&") + 1
}

// stringTree reports whether v holds only strings, in non-empty maps and lists, and
// whether neither key nor any string looks like a batch reference.
func stringTree(key string, v any) bool {
	if batchReference(key) {
		return false
	}
	switch x := v.(type) {
	case string:
		return !batchReference(x)
	case map[string]any:
		if len(x) == 0 {
			return false
		}
		for k, e := range x {
			if !stringTree(k, e) {
				return false
			}
		}
		return true
	case []any:
		if len(x) == 0 {
			return false
		}
		for i, e := range x {
			if !stringTree(strconv.Itoa(i), e) {
				return false
			}
		}
		return true
	}
	return false
}

// batchReference reports text the server would substitute inside a batch:
// "$result[...]" and its siblings $next, $total, $time and $error, in any case.
func batchReference(s string) bool {
	if !strings.Contains(s, "$") {
		return false
	}
	s = strings.ToLower(s)
	for _, ref := range [...]string{"$result", "$next", "$total", "$time", "$error"} {
		if strings.Contains(s, ref) {
			return true
		}
	}
	return false
}

// listsAsMaps is v as PHP holds it: lists are maps keyed "0".."n-1".
func listsAsMaps(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = listsAsMaps(e)
		}
		return m
	case []any:
		m := make(map[string]any, len(x))
		for i, e := range x {
			m[strconv.Itoa(i)] = listsAsMaps(e)
		}
		return m
	}
	return v
}
