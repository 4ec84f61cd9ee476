package bitrix24test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// HandlerFunc implements a custom method ([Server.Handle]). r holds the call: the
// method, its decoded parameters (credentials and start taken out), the auth type, the
// portal user, the application's client_id and the paging offset. Inside a batch, r is
// the command, and ctx and the HTTP fields are the batch request's.
//
// The result is sent as the answer's "result", encoded like encoding/json does (struct
// fields in order); return a [Page] to add "total" and "next". A returned [*Error] is
// answered as it says; any other error answers 400 ERROR_CORE with its text, as the
// portal does for an exception it does not know. A panic answers 500 ERROR_CORE.
type HandlerFunc func(ctx context.Context, r Request) (any, error)

// Page is a page of a list method's result: Items is the "result", Total the "total",
// Next the "next" offset (0: no next page).
type Page struct {
	Items any
	Total int
	Next  int
}

// Error is an error answer of a custom method: {"error": Code, "error_description":
// Description, "argument": Argument (when set)} with HTTP Status (0 means 400, as for a
// RestException without a status).
type Error struct {
	Status      int
	Code        string
	Description string
	Argument    string
}

// Error implements error.
func (e *Error) Error() string {
	return "bitrix24test: " + e.Code + ": " + e.Description
}

// HandleOption configures a custom method.
type HandleOption func(*methodDef)

// RequireScope makes a custom method need scope (e.g. "crm"): a token or webhook
// without it answers insufficient_scope. Without it, the method is global like
// user.option.*: any credentials may call it.
func RequireScope(scope string) HandleOption {
	return func(d *methodDef) { d.scope = normalizeScope(scope) }
}

// Handle registers a custom method (case-insensitive, ".json" ignored), or replaces
// one, built in or custom; a nil h removes the custom method. Custom methods go through
// the real pipeline: fault injection, the leaky bucket, method lookup, authentication
// and the scope check, the operating-time limit, batch commands, and the counters and
// request log.
//
// h runs without the server's lock: it may call the server's methods.
func (s *Server) Handle(method string, h HandlerFunc, opts ...HandleOption) {
	name := normMethod(method)
	s.mu.Lock()
	defer s.mu.Unlock()
	if h == nil {
		delete(s.custom, name)
		return
	}
	def := methodDef{fn: customMethod(h)}
	for _, o := range opts {
		if o != nil {
			o(&def)
		}
	}
	s.custom[name] = def
}

// HandleResult registers a custom method that answers result.
func (s *Server) HandleResult(method string, result any, opts ...HandleOption) {
	s.Handle(method, func(context.Context, Request) (any, error) { return result, nil }, opts...)
}

// HandleError registers a custom method that answers the error code with description
// and HTTP status, the arguments of [FaultError]. Unlike an injected fault it answers
// every call, inside batches too, after authentication.
func (s *Server) HandleError(method string, status int, code, description string, opts ...HandleOption) {
	e := &Error{Status: status, Code: code, Description: description}
	s.Handle(method, func(context.Context, Request) (any, error) { return nil, e }, opts...)
}

// customMethod adapts h to the pipeline. It runs under s.mu and releases it while h
// runs, so that h may use the server.
func customMethod(h HandlerFunc) func(c *callCtx) (any, *navData, *restError) {
	return func(c *callCtx) (any, *navData, *restError) {
		r := Request{
			Method: c.method, HTTPMethod: c.req.HTTPMethod, Path: c.req.Path, Header: c.req.Header.Clone(),
			Body: append([]byte(nil), c.req.Body...), Params: plainCopyMap(c.params), AuthType: c.auth.kind,
			UserID: c.auth.userID, ClientID: c.auth.clientID(), Start: c.start, Time: c.s.cfg.now(),
		}
		c.s.mu.Unlock()
		res, err := callHandler(c.ctx, h, r)
		c.s.mu.Lock()
		if err != nil {
			return nil, nil, handlerError(err)
		}
		var nav *navData
		if p, ok := res.(Page); ok {
			res, nav = p.Items, &navData{total: p.Total, next: p.Next, hasNext: p.Next > 0}
		} else if p, ok := res.(*Page); ok && p != nil {
			res, nav = p.Items, &navData{total: p.Total, next: p.Next, hasNext: p.Next > 0}
		}
		v, jerr := phpValue(res)
		if jerr != nil {
			return nil, nil, newErr(http.StatusInternalServerError, "ERROR_CORE",
				fmt.Sprintf("bitrix24test: the result of %s does not encode: %v", c.method, jerr))
		}
		return v, nav, nil
	}
}

// callHandler runs h, turning a panic into an error.
func callHandler(ctx context.Context, h HandlerFunc, r Request) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, &Error{Status: http.StatusInternalServerError, Code: "ERROR_CORE",
				Description: fmt.Sprintf("bitrix24test: the handler of %s panicked: %v", r.Method, p)}
		}
	}()
	return h(ctx, r)
}

func handlerError(err error) *restError {
	var e *Error
	if !errors.As(err, &e) {
		return newErr(http.StatusBadRequest, "ERROR_CORE", err.Error())
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	return &restError{status: status, code: e.Code, description: e.Description, argument: e.Argument}
}

// phpValue turns a Go value into the fake's value tree through encoding/json, keeping
// the order of struct fields and json.RawMessage objects.
func phpValue(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return decodeOrdered(data)
}
