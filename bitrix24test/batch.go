package bitrix24test

import (
	"encoding/json"
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
	defer func() { c.s.limiter.flushPending(c.pending, c.s.cfg.now()) }()
	var cmdV, haltV any
	cmdKey := ""
	// array_change_key_case(CASE_UPPER): of keys differing in case, the last sent wins.
	for _, k := range orderKeys(c.params, c.in.keyOrder().list()) {
		switch strings.ToUpper(k) {
		case "CMD":
			cmdV, cmdKey = c.params[k], k
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
		keys = orderKeys(x, c.in.keyOrder().child(cmdKey).list())
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
				res, nav, ti, rerr := c.s.runBatchItem(c, method, params, query)
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
func (s *Server) runBatchItem(outer *callCtx, method string, params map[string]any, query string) (any, *navData, timeInfo, *restError) {
	begin := s.cfg.now()
	start := stripServerParams(params)
	name := strings.ToLower(method)
	def, ok := s.method(name)
	if !ok {
		return nil, nil, timeInfo{}, newErr(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
	}
	if !outer.auth.hasScope(def.scope) {
		return nil, nil, timeInfo{}, newErr(401, "insufficient_scope", "")
	}
	c := &callCtx{ctx: outer.ctx, s: s, req: outer.req, auth: outer.auth, method: name, params: params, start: start, in: &incoming{rawQuery: query}, batch: outer}
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
// the value as-is (arrays too), an embedded one only by a string or a number. Anything
// else (a boolean, an array, an unknown section) leaves the text as it is.
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
		if str, ok := stringOrNumber(r); ok {
			cur = strings.ReplaceAll(s, m[0], str)
		}
	}
	return cur
}

// stringOrNumber is the text of a string or a number (numbers as PHP prints them).
func stringOrNumber(v any) (string, bool) {
	switch v.(type) {
	case string, json.Number, int, int64, float64:
		return scalarString(v)
	}
	return "", false
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
