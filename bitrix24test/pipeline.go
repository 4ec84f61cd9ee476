package bitrix24test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"time"
)

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
	ctx    context.Context // the HTTP request's
	s      *Server
	req    *Request // the log entry of the HTTP request
	auth   *authInfo
	method string
	params map[string]any
	start  int
	in     *incoming     // the raw parameters: the HTTP request's, or a batch command's query
	cost   time.Duration // modelled time the method adds to its processing (crm.item.list)
	// batch is the outer batch of a command (nil outside one); pending is, on that
	// outer ctx, each method's time in the request not yet recorded (limits.go).
	batch   *callCtx
	pending map[limiterKey]*pendingTime
}

var methodTable map[string]methodDef

func init() {
	methodTable = map[string]methodDef{
		"batch":                {fn: methodBatch, batch: true},
		"scope":                {fn: methodScope},
		"methods":              {fn: methodMethods},
		"server.time":          {fn: methodServerTime},
		"profile":              {fn: methodProfile},
		"app.info":             {fn: methodAppInfo},   // methods_appinfo.go
		"user.admin":           {fn: methodUserAdmin}, // portal_app.go
		"user.option.set":      {fn: methodUserOptionSet},
		"user.option.get":      {fn: methodUserOptionGet},
		"app.option.set":       {fn: methodAppOptionSet},
		"app.option.get":       {fn: methodAppOptionGet},
		"userfieldtype.add":    {scope: scopePlacement, fn: methodUFTAdd},
		"userfieldtype.update": {scope: scopePlacement, fn: methodUFTUpdate},
		"userfieldtype.list":   {scope: scopePlacement, fn: methodUFTList},
		"userfieldtype.delete": {scope: scopePlacement, fn: methodUFTDelete},
		"crm.item.list":        {scope: scopeCRM, fn: methodCRMItemList}, // methods_crm.go
		"crm.item.add":         {scope: scopeCRM, fn: methodCRMItemAdd},  // methods_crmwrite.go
		"crm.item.update":      {scope: scopeCRM, fn: methodCRMItemUpdate},
		"crm.item.delete":      {scope: scopeCRM, fn: methodCRMItemDelete},
		"event.bind":           {fn: methodEventBind}, // methods_event.go
		"event.unbind":         {fn: methodEventUnbind},
		"event.get":            {fn: methodEventGet},
		"event.offline.get":    {fn: methodEventOfflineGet}, // methods_eventoffline_api.go
		"event.offline.clear":  {fn: methodEventOfflineClear},
		"event.offline.error":  {fn: methodEventOfflineError},
		"event.offline.list":   {fn: methodEventOfflineList},
	}
}

// method looks a method up (under s.mu): custom methods ([Server.Handle]) first.
func (s *Server) method(name string) (methodDef, bool) {
	if def, ok := s.custom[name]; ok {
		return def, true
	}
	def, ok := methodTable[name]
	return def, ok
}

// methods returns every method the server knows (under s.mu).
func (s *Server) methods() map[string]methodDef {
	all := maps.Clone(methodTable)
	maps.Copy(all, s.custom)
	return all
}

// serveHTTP is the whole server: the token endpoint and /rest/.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if path := collapseSlashes(r.URL.Path); path != r.URL.Path {
		u := *r.URL
		u.Path, u.RawPath = path, ""
		r = r.WithContext(r.Context())
		r.URL = &u
	}
	path := r.URL.Path
	switch {
	case isTokenPath(path):
		s.serveToken(w, r, body)
	case isRESTPath(path):
		s.serveREST(w, r, body)
	case isOAuthRESTPath(path):
		s.serveOAuthREST(w, r, body) // oauth_appinfo.go
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
	entry := &Request{
		Method: rt.method, HTTPMethod: r.Method, Path: r.URL.Path, Header: r.Header.Clone(),
		Body: body, Params: plainCopyMap(in.params), AuthType: creds.authType(), Start: start,
		Connector: creds.connector,
	}

	s.mu.Lock()
	s.record(entry)
	f := s.takeFault(rt.method)
	s.mu.Unlock()
	if f != nil && !s.applyFault(w, r, f) {
		s.finishFaulted(entry, f)
		return
	}

	begin := s.cfg.now()
	s.mu.Lock()
	c := &callCtx{ctx: r.Context(), s: s, req: entry, method: rt.method, params: in.params, start: start, in: &in}
	status, out := s.processREST(r, rt, creds, c, begin)
	s.mu.Unlock()
	if e, ok := out.(*restError); ok {
		switch {
		case e.fatal:
			s.finish(entry, http.StatusInternalServerError, "")
		default:
			s.finish(entry, e.status, e.code)
		}
		if e.code == "QUERY_LIMIT_EXCEEDED" {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			writeJSON(w, e.status, e.body())
			return
		}
		writeRESTError(w, e)
		return
	}
	s.finish(entry, status, "")
	setRESTHeaders(w.Header())
	writeJSON(w, status, out)
}

// processREST runs under s.mu and returns the status and either a *restError or the
// success envelope.
func (s *Server) processREST(r *http.Request, rt route, creds credentials, c *callCtx, begin time.Time) (int, any) {
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
	def, ok := s.method(rt.method)
	if !ok {
		return 0, s.sysErr(http.StatusNotFound, "ERROR_METHOD_NOT_FOUND", "Method not found!")
	}
	auth, aerr := s.authenticate(r, creds, def.scope)
	if aerr != nil {
		return 0, aerr
	}
	if auth.kind == "oauth" {
		auth.connector = creds.connector
	}
	c.auth = auth
	c.req.UserID, c.req.ClientID = auth.userID, auth.clientID()
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
		s.opRefused++
		return nil, nil, timeInfo{}, s.sysErr(http.StatusTooManyRequests, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
	}
	s.calls[c.method]++
	realStart := time.Now()
	res, nav, err := def.fn(c)
	// The cost a test set (SetMethodCost) is server time like the method's own: it is
	// recorded, and the answer's processing and duration show it.
	modelled := c.cost + s.methodCost[c.method]
	processing := time.Since(realStart) + modelled
	if limited {
		s.limiter.record(key, s.cfg.now(), processing)
		if c.batch != nil {
			c.batch.addPending(key, processing)
		}
	}
	if err != nil {
		return nil, nil, timeInfo{}, err
	}
	ti := timeInfo{start: begin, finish: s.cfg.now().Add(modelled), processing: processing, withOperating: s.cfg.opLimit > 0}
	if ti.withOperating {
		ti.operating, ti.resetAt = s.limiter.usage(key, s.cfg.now())
		if ti.resetAt == 0 {
			// LoadLimiter::getResetTime with nothing recorded: the first call of this
			// request + 600 s, so a cheap call reports it too (as recorded answers do).
			ti.resetAt = begin.Unix() + limiterBucketSize*limiterBucketCount
		}
	}
	return res, nav, ti, nil
}
