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

// derivedTokenPath is the token endpoint a client derives from the fake's
// server_endpoint by the documented rule (server_endpoint minus "rest/" plus
// "oauth/token/", protocol §4.3, §13.1): URL + "/oauth/rest/" gives
// URL + "/oauth/oauth/token/". The JS SDK derives it this way.
var derivedTokenPath = strings.Replace(oauthRESTPrefix, "rest/", "", 1) + "oauth/token/"

// isTokenPath: the fake's token endpoint, at /oauth/token/ (its TokenURL) and at the
// path derived from its server_endpoint; the trailing slash is optional.
func isTokenPath(p string) bool {
	p = strings.TrimSuffix(p, "/") + "/"
	return p == "/oauth/token/" || p == derivedTokenPath
}

// collapseSlashes turns every run of slashes in a path into one: a portal answers
// /rest//profile as /rest/profile, and the JS SDK sends the former whenever a
// client_endpoint ends in "/" (protocol §13.2).
func collapseSlashes(p string) string {
	if !strings.Contains(p, "//") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

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
	bodyKind string    // "", "json", "form", "multipart"
	formBody string    // the form-syntax text the body parameters came from
	order    *keyOrder // built by keyOrder when first needed
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
	if jsonTooDeep(body, maxJSONDepth) {
		return nil
	}
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

// maxJSONDepth is the depth Json::decode passes to json_decode: a body nested deeper
// does not decode, so the request goes on with the query string only. (Form bodies are
// bounded by PHP's max_input_nesting_level inside phpquery.Parse.)
const maxJSONDepth = 512

// jsonTooDeep reports whether body opens more than max arrays or objects inside each
// other. It scans the bytes, so a hostile body costs no recursion.
func jsonTooDeep(body []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > max {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
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
	// connector is the auth_connector the request carried: the portal reads it with the
	// OAuth credentials (OAuth\Auth::$authQueryAdditional), the method never sees it.
	connector string
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
	if v, ok := scalarString(params["auth_connector"]); ok {
		c.connector = strings.TrimSpace(v)
	}
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
	return c, stripServerParams(params)
}

// stripServerParams takes out what the server keeps from methods (§1.4): the auth
// parameters, and start, whose intval it returns as the paging offset.
func stripServerParams(params map[string]any) int {
	for _, k := range strippedParams {
		delete(params, k)
	}
	start := 0
	if v, ok := params["start"]; ok {
		start = phpIntval(v)
		delete(params, "start")
	}
	return start
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
