package bitrix24test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/b24go/bitrix24/internal/phpquery"
)

// batchMaxLength is CRestUtil::BATCH_MAX_LENGTH.
const batchMaxLength = 50

// methodBatch is CRestProvider::methodsBatch: commands run in order with the batch's
// own authentication; per-command errors go to result_error, the batch answers 200.
func methodBatch(c *callCtx) (any, *navData, *restError) {
	var cmdV, haltV any
	for _, k := range sortedKeys(c.params) { // array_change_key_case(CASE_UPPER)
		switch strings.ToUpper(k) {
		case "CMD":
			cmdV = c.params[k]
		case "HALT":
			haltV = c.params[k]
		}
	}
	halt := phpTruthy(haltV)
	sec := map[string]*omap{
		"result": newOmap(), "next": newOmap(), "total": newOmap(), "time": newOmap(), "error": newOmap(),
	}

	var keys []string
	var calls map[string]any
	switch x := cmdV.(type) {
	case map[string]any:
		calls = x
		keys = orderKeys(x, cmdOrder(c.in))
	case []any:
		calls = map[string]any{}
		for i, v := range x {
			k := strconv.Itoa(i)
			calls[k] = v
			keys = append(keys, k)
		}
	}

	cnt := 0
	for _, key := range keys {
		var errEntry *omap
		if cnt < batchMaxLength {
			cnt++
			call, ok := calls[key].(string)
			if !ok {
				continue // non-string commands are skipped silently
			}
			method, query := splitCall(call)
			var params map[string]any
			if query != "" {
				params = processBatchStructure(phpquery.Parse(query), sec)
			} else {
				params = map[string]any{}
			}
			if method == "batch" || method == "download" || method == "upload" {
				errEntry = (&restError{code: "ERROR_BATCH_METHOD_NOT_ALLOWED", description: "Method is not allowed for batch usage"}).body()
			} else {
				res, nav, ti, rerr := c.s.runBatchItem(c, method, params)
				if rerr != nil && rerr.fatal {
					return nil, nil, rerr // an uncaught PHP Error ends the whole request
				}
				if rerr != nil {
					errEntry = rerr.body()
				} else {
					sec["result"].set(key, res)
					if nav != nil {
						if nav.hasNext {
							sec["next"].set(key, nav.next)
						}
						sec["total"].set(key, nav.total)
					}
					sec["time"].set(key, ti.toMap())
				}
			}
		} else {
			errEntry = (&restError{code: "ERROR_BATCH_LENGTH_EXCEEDED", description: "Max batch length exceeded"}).body()
		}
		if errEntry != nil {
			sec["error"].set(key, errEntry)
			if code, _ := errEntry.get("error"); halt && code != "" {
				break
			}
		}
	}

	out := newOmap()
	out.set("result", sec["result"])
	out.set("result_error", sec["error"])
	out.set("result_total", sec["total"])
	out.set("result_next", sec["next"])
	out.set("result_time", sec["time"])
	return out, nil, nil
}

// runBatchItem is CRestServerBatchItem::process: the method name lower-cased, the
// per-command scope check (insufficient_scope with an empty description), then the
// operating-time check and the method.
func (s *Server) runBatchItem(outer *callCtx, method string, params map[string]any) (any, *navData, timeInfo, *restError) {
	begin := s.cfg.now()
	start := stripServerParams(params)
	name := strings.ToLower(method)
	def, ok := methodTable[name]
	if !ok {
		return nil, nil, timeInfo{}, newErr(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
	}
	if !outer.auth.hasScope(def.scope) {
		return nil, nil, timeInfo{}, newErr(401, "insufficient_scope", "")
	}
	c := &callCtx{s: s, auth: outer.auth, method: name, params: params, start: start}
	return s.execute(c, def, begin)
}

// splitCall splits "method?query" like parse_url's path and query.
func splitCall(call string) (method, query string) {
	if i := strings.IndexByte(call, '#'); i >= 0 {
		call = call[:i]
	}
	method, query, _ = strings.Cut(call, "?")
	return method, query
}

var (
	batchRefRe  = regexp.MustCompile(`(?i)\$(result|next|total|time|error)(\S*)`)
	batchPathRe = regexp.MustCompile(`\[([^\]]+)\]`)
)

// processBatchStructure is CRestUtil::processBatchStructure for the values (keys are
// left as they are; the source's key substitution is a quirk without use).
func processBatchStructure(params map[string]any, sec map[string]*omap) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		switch x := v.(type) {
		case map[string]any:
			out[k] = processBatchStructure(x, sec)
		case string:
			out[k] = processBatchElement(x, sec)
		default:
			out[k] = v
		}
	}
	return out
}

// processBatchElement is CRestUtil::processBatchElement: each "$section[key][field]…"
// is resolved by walking while isset() holds; a whole-value reference is replaced by
// the value as-is (arrays too), an embedded one only by a scalar.
func processBatchElement(q string, sec map[string]*omap) any {
	var cur any = q
	for _, m := range batchRefRe.FindAllStringSubmatch(q, -1) {
		s, ok := cur.(string)
		if !ok {
			break
		}
		steps := batchPathRe.FindAllStringSubmatch(m[2], -1)
		if len(steps) == 0 {
			continue
		}
		var r any
		if section, ok := sec[m[1]]; ok { // the section lookup is case-sensitive
			r = section
		}
		for _, st := range steps {
			next, ok := phpIsset(r, st[1])
			if !ok {
				break
			}
			r = next
		}
		if m[0] == s {
			cur = r
			continue
		}
		if r == nil {
			cur = strings.ReplaceAll(s, m[0], "")
		} else if str, ok := scalarString(r); ok {
			cur = strings.ReplaceAll(s, m[0], str)
		}
	}
	return cur
}

// phpIsset returns $r[$key] when isset($r[$key]).
func phpIsset(r any, key string) (any, bool) {
	switch x := r.(type) {
	case *omap:
		v, ok := x.get(key)
		return v, ok && v != nil
	case map[string]any:
		v, ok := x[key]
		return v, ok && v != nil
	case []any:
		i, ok := phpIntKey(key)
		if !ok || i < 0 || i >= int64(len(x)) || x[i] == nil {
			return nil, false
		}
		return x[i], true
	case string:
		i, ok := phpIntKey(key)
		if !ok {
			return nil, false
		}
		if i < 0 {
			i += int64(len(x))
		}
		if i < 0 || i >= int64(len(x)) {
			return nil, false
		}
		return x[i : i+1], true
	}
	return nil, false
}

// orderKeys lists m's keys in the order the client sent them (hint), then any others.
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

// cmdOrder recovers the order of the cmd keys from the raw request, which Go maps lose.
func cmdOrder(in *incoming) []string {
	if in == nil {
		return nil
	}
	if in.bodyKind == "json" {
		if keys, found := jsonCmdKeys(in.body); found {
			return keys
		}
	}
	if keys := formCmdKeys(in.formBody); len(keys) > 0 {
		return keys
	}
	return formCmdKeys(in.rawQuery)
}

// jsonCmdKeys returns the keys of the top-level "cmd" object (any case; last one wins).
func jsonCmdKeys(body []byte) ([]string, bool) {
	d := json.NewDecoder(bytes.NewReader(body))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var keys []string
	found := false
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return keys, found
		}
		k, _ := t.(string)
		if !strings.EqualFold(k, "cmd") {
			var skip json.RawMessage
			if d.Decode(&skip) != nil {
				return keys, found
			}
			continue
		}
		var raw json.RawMessage
		if d.Decode(&raw) != nil {
			return keys, found
		}
		found = true
		keys = objectKeys(raw)
	}
	return keys, found
}

func objectKeys(raw json.RawMessage) []string {
	d := json.NewDecoder(bytes.NewReader(raw))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return keys
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}

// formCmdKeys returns the first-level keys of cmd[...] in a form-syntax string.
func formCmdKeys(q string) []string {
	var keys []string
	for _, pair := range strings.Split(q, "&") {
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if len(name) < 4 || !strings.EqualFold(name[:4], "cmd[") {
			continue
		}
		rest := name[4:]
		end := strings.IndexByte(rest, ']')
		if end <= 0 {
			continue
		}
		keys = append(keys, rest[:end])
	}
	return keys
}
