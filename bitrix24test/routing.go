package bitrix24test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/b24go/bitrix24/internal/phpquery"
)

// maxBody caps how much of a request body the fake reads.
const maxBody = 64 << 20

// route is a parsed /rest/ path.
type route struct {
	method    string // lower-cased, transport suffix cut off
	transport string // "json" or "xml"
	webhook   bool   // /rest/<uid>/<code>/<method>
	hookUID   string
	hookCode  string
}

// parseRoute splits a path below /rest/: "<method>[.json|.xml][/]" or
// "<uid>/<code>/<method>[.json|.xml][/]". Anything else yields a method name no table
// holds, hence ERROR_METHOD_NOT_FOUND.
func parseRoute(path string) route {
	rest := strings.TrimPrefix(path, "/rest")
	rest = strings.TrimPrefix(rest, "/")
	rest = strings.TrimSuffix(rest, "/")
	parts := strings.Split(rest, "/")
	rt := route{transport: "json"}
	m := rest
	switch len(parts) {
	case 1:
		m = parts[0]
	case 3:
		rt.webhook = true
		rt.hookUID, rt.hookCode, m = parts[0], parts[1], parts[2]
	}
	m = strings.ToLower(m)
	if i := strings.LastIndexByte(m, '.'); i >= 0 {
		switch m[i+1:] {
		case "json", "xml":
			rt.transport = m[i+1:]
			m = m[:i]
		}
	}
	rt.method = m
	return rt
}

func isTokenPath(p string) bool { return p == "/oauth/token/" || p == "/oauth/token" }

func isRESTPath(p string) bool { return p == "/rest" || strings.HasPrefix(p, "/rest/") }

// mediaType returns the lower-cased media type without parameters.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

func isJSONType(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// incoming is a request's decoded parameters with what batch needs to order commands.
type incoming struct {
	params   map[string]any
	rawQuery string
	body     []byte
	bodyKind string // "", "json", "form", "multipart"
	formBody string // the form-syntax text the body parameters came from
}

// readParams reproduces CRestUtil::getRequestData: the query string always; for POST
// the body, merged over it with array_replace (top-level body keys win). JSON bodies
// (application/json or +json) keep JSON types, invalid JSON is ignored silently; form,
// multipart and any other body go through PHP's parse_str.
func readParams(r *http.Request, body []byte) incoming {
	in := incoming{params: phpquery.Parse(r.URL.RawQuery), rawQuery: r.URL.RawQuery, body: body}
	if r.Method != http.MethodPost || len(body) == 0 {
		return in
	}
	ct := r.Header.Get("Content-Type")
	mt := mediaType(ct)
	var post map[string]any
	switch {
	case isJSONType(mt):
		in.bodyKind = "json"
		post = decodeJSONParams(body)
	case mt == "multipart/form-data":
		in.bodyKind = "multipart"
		in.formBody = multipartToQuery(ct, body)
		post = phpquery.Parse(in.formBody)
	default:
		in.bodyKind = "form"
		in.formBody = string(body)
		post = phpquery.Parse(in.formBody)
	}
	for k, v := range post {
		in.params[k] = v
	}
	return in
}

// decodeJSONParams decodes a JSON body strictly; nil when it is not a JSON object or
// array (PHP then goes on with the query string only).
func decodeJSONParams(body []byte) map[string]any {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil // trailing data
	}
	switch x := v.(type) {
	case map[string]any:
		return x
	case []any:
		m := make(map[string]any, len(x))
		for i, e := range x {
			m[strconv.Itoa(i)] = e
		}
		return m
	}
	return nil
}

// multipartToQuery re-encodes the non-file fields of a multipart body as a query
// string, so bracket names build nested arrays as in PHP's $_POST.
func multipartToQuery(ct string, body []byte) string {
	_, ps, err := mime.ParseMediaType(ct)
	if err != nil || ps["boundary"] == "" {
		return ""
	}
	mr := multipart.NewReader(bytes.NewReader(body), ps["boundary"])
	var pairs []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.FileName() != "" || p.FormName() == "" {
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, maxBody))
		if err != nil {
			break
		}
		pairs = append(pairs, url.QueryEscape(p.FormName())+"="+url.QueryEscape(string(v)))
	}
	return strings.Join(pairs, "&")
}

// Parameters the server takes out before a method sees them (§1.4).
var strippedParams = []string{"auth", "access_token", "auth_connector", "aplogin", "ap", "state"}

// credentials are what the request carried for authentication.
type credentials struct {
	token    string // OAuth access token
	hookUID  string
	hookCode string
	webhook  bool
}

func (c credentials) authType() string {
	switch {
	case c.webhook:
		return "webhook"
	case c.token != "":
		return "oauth"
	}
	return ""
}

// takeCredentials extracts the credentials (Bearer header first, then auth /
// access_token; the webhook path, then aplogin/ap params), strips the auth params and
// start, and returns the paging offset.
func takeCredentials(r *http.Request, rt route, params map[string]any) (credentials, int) {
	var c credentials
	if rt.webhook {
		c.webhook, c.hookUID, c.hookCode = true, rt.hookUID, rt.hookCode
	} else {
		c.token = tokenFrom(r.Header.Get("Authorization"), params)
		if c.token == "" {
			uid, uok := scalarString(params["aplogin"])
			code, cok := scalarString(params["ap"])
			if uok && cok {
				c.webhook, c.hookUID, c.hookCode = true, uid, code
			}
		}
	}
	for _, k := range strippedParams {
		delete(params, k)
	}
	start := 0
	if v, ok := params["start"]; ok {
		start = phpIntval(v)
		delete(params, "start")
	}
	return c, start
}

// tokenFrom implements OAuth\Auth::getAuthKey: an Authorization header matching
// /^Bearer\s+/i, else the first scalar of auth / access_token.
func tokenFrom(header string, params map[string]any) string {
	if len(header) > 6 && strings.EqualFold(header[:6], "bearer") && isSpaceByte(header[6]) {
		return strings.TrimSpace(header[6:])
	}
	for _, k := range []string{"auth", "access_token"} {
		if s, ok := scalarString(params[k]); ok {
			return s
		}
	}
	return ""
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

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

// methodDef is one REST method.
type methodDef struct {
	scope string // "" is _global: no scope needed
	fn    func(c *callCtx) (any, *navData, *restError)
	batch bool // the outer batch: ignored by the operating-time limiter
}

// navData carries total/next of a list method.
type navData struct {
	total   int
	next    int
	hasNext bool
}

// callCtx is one method execution, top-level or inside a batch.
type callCtx struct {
	s      *Server
	auth   *authInfo
	method string
	params map[string]any
	start  int
	in     *incoming     // the HTTP request's raw parameters (nil inside a batch)
	cost   time.Duration // modelled time the method adds to its processing (crm.item.list)
}

var methodTable map[string]methodDef

func init() {
	methodTable = map[string]methodDef{
		"batch":                {fn: methodBatch, batch: true},
		"scope":                {fn: methodScope},
		"methods":              {fn: methodMethods},
		"server.time":          {fn: methodServerTime},
		"profile":              {fn: methodProfile},
		"user.option.set":      {fn: methodUserOptionSet},
		"user.option.get":      {fn: methodUserOptionGet},
		"app.option.set":       {fn: methodAppOptionSet},
		"app.option.get":       {fn: methodAppOptionGet},
		"userfieldtype.add":    {scope: scopePlacement, fn: methodUFTAdd},
		"userfieldtype.update": {scope: scopePlacement, fn: methodUFTUpdate},
		"userfieldtype.list":   {scope: scopePlacement, fn: methodUFTList},
		"userfieldtype.delete": {scope: scopePlacement, fn: methodUFTDelete},
		"crm.item.list":        {scope: scopeCRM, fn: methodCRMItemList},
	}
}

// serveHTTP is the whole server: the token endpoint and /rest/.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	path := r.URL.Path
	switch {
	case isTokenPath(path):
		s.serveToken(w, r, body)
	case isRESTPath(path):
		s.serveREST(w, r, body)
	default:
		http.NotFound(w, r)
	}
}

// serveREST runs the pipeline of CRestServer::processExecution, preceded by fault
// injection and the portal's leaky bucket.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request, body []byte) {
	rt := parseRoute(r.URL.Path)
	in := readParams(r, body)
	creds, start := takeCredentials(r, rt, in.params)

	s.mu.Lock()
	s.record(Request{
		Method: rt.method, HTTPMethod: r.Method, Path: r.URL.Path, Header: r.Header.Clone(),
		Body: body, Params: deepCopyMap(in.params), AuthType: creds.authType(),
	})
	f := s.takeFault(rt.method)
	s.mu.Unlock()
	if f != nil && !s.applyFault(w, r, f) {
		return
	}

	begin := s.cfg.now()
	s.mu.Lock()
	status, out := s.processREST(r, rt, creds, start, &in, begin)
	s.mu.Unlock()
	if e, ok := out.(*restError); ok {
		if e.code == "QUERY_LIMIT_EXCEEDED" {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			writeJSON(w, e.status, e.body())
			return
		}
		writeRESTError(w, e)
		return
	}
	setRESTHeaders(w.Header())
	writeJSON(w, status, out)
}

// processREST runs under s.mu and returns the status and either a *restError or the
// success envelope.
func (s *Server) processREST(r *http.Request, rt route, creds credentials, start int, in *incoming, begin time.Time) (int, any) {
	if !s.bucket.take(s.cfg.rate, s.cfg.burst, s.cfg.now()) {
		s.refusals++
		return 0, s.sysErr(http.StatusServiceUnavailable, "QUERY_LIMIT_EXCEEDED", "Too many requests")
	}
	if rt.transport != "json" {
		// The fake does not speak XML: it answers like CRestServer for a transport it
		// does not support.
		return 0, s.sysErr(http.StatusInternalServerError, "INTERNAL_WRONG_TRANSPORT", "Wrong transport!")
	}
	if s.portalDeleted {
		return 0, s.sysErr(http.StatusForbidden, "PORTAL_DELETED", "Portal was deleted")
	}
	def, ok := methodTable[rt.method]
	if !ok {
		return 0, s.sysErr(http.StatusNotFound, "ERROR_METHOD_NOT_FOUND", "Method not found!")
	}
	auth, aerr := s.authenticate(r, creds, def.scope)
	if aerr != nil {
		return 0, aerr
	}
	c := &callCtx{s: s, auth: auth, method: rt.method, params: in.params, start: start, in: in}
	res, nav, ti, err := s.execute(c, def, begin)
	if err != nil {
		return 0, err
	}
	env := newOmap()
	env.set("result", res)
	if nav != nil {
		env.set("total", nav.total)
		if nav.hasNext {
			env.set("next", nav.next)
		}
	}
	env.set("time", ti.toMap())
	return http.StatusOK, env
}

// execute runs one method: the operating-time check (CRestServer::processCall), the
// method, the bookkeeping. begin is when the request (or batch item) started.
func (s *Server) execute(c *callCtx, def methodDef, begin time.Time) (any, *navData, timeInfo, *restError) {
	limited := s.cfg.opLimit > 0 && !def.batch
	key := limiterKey{authType: c.auth.kind, entity: c.auth.entity(), method: c.method}
	if limited && s.limiter.blocked(key, s.cfg.now(), s.cfg.opLimit) {
		return nil, nil, timeInfo{}, s.sysErr(http.StatusTooManyRequests, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
	}
	s.calls[c.method]++
	realStart := time.Now()
	res, nav, err := def.fn(c)
	processing := time.Since(realStart) + c.cost
	if limited {
		s.limiter.record(key, s.cfg.now(), processing+s.methodCost[c.method])
	}
	if err != nil {
		return nil, nil, timeInfo{}, err
	}
	ti := timeInfo{start: begin, finish: s.cfg.now().Add(c.cost), processing: processing, withOperating: s.cfg.opLimit > 0}
	if ti.withOperating {
		ti.operating, ti.resetAt = s.limiter.usage(key, s.cfg.now())
	}
	return res, nav, ti, nil
}

// deepCopy copies request and storage values so stored state never aliases.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return deepCopyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	case *omap:
		m := make(map[string]any, x.len())
		for _, k := range x.keys {
			m[k] = deepCopy(x.vals[k])
		}
		return m
	}
	return v
}

func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}
