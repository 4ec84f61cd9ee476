package bitrix24test

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Request is one request the server received. It is an entry of the request log
// ([Server.RequestLog]), what [Server.LastRequest] returns, and what a custom method's
// handler ([Server.Handle]) is given.
type Request struct {
	// Method is the REST method, lower-cased without ".json" ("oauth/token" for the
	// token endpoint; for an unparsable path, the lower-cased rest of the path). For a
	// handler inside a batch, it is the command's method.
	Method     string
	HTTPMethod string
	Path       string
	Header     http.Header
	Body       []byte
	// Params are the decoded parameters (query merged with body) without credentials
	// (auth, access_token, aplogin, ap, state) and start. Values are strings and nested
	// map[string]any from form data; JSON types (numbers as json.Number) from JSON
	// bodies. For the token endpoint they are the raw form values, secrets included.
	Params map[string]any
	// AuthType is "oauth" (a token was sent), "webhook" (webhook credentials) or "".
	AuthType string
	// Connector is the auth_connector the request carried ("" when none). Like the
	// credentials, it is not in Params.
	Connector string
	// UserID is the portal user the call ran for; 0 until authentication succeeded (and
	// for requests it refused).
	UserID int
	// ClientID is the application of an authenticated OAuth call ("" for webhooks).
	ClientID string
	// Start is the paging offset: PHP's intval of the start parameter.
	Start int
	// Status is the HTTP status answered: 0 while the answer is being made, or when the
	// connection was dropped. Not set for a handler's argument.
	Status int
	// ErrorCode is the "error" of the answer ("" on success). A batch answers 200 with
	// its commands' errors inside, so its ErrorCode is "".
	ErrorCode string
	// Time is when the request arrived, on the server's clock ([WithClock]).
	Time time.Time
}

func (r Request) clone() Request {
	r.Header = r.Header.Clone()
	r.Body = append([]byte(nil), r.Body...)
	r.Params = plainCopyMap(r.Params)
	return r
}

// logKeep is how many of the newest entries the log keeps at least, so that long runs
// (benchmarks) do not grow it without bound; it holds at most twice as many.
const logKeep = 10_000

// record counts a request and opens its log entry (under s.mu), so that the log's
// order is the order of arrival times.
func (s *Server) record(r *Request) {
	r.Time = s.cfg.now()
	s.total++
	s.requests[r.Method]++
	s.last[r.Method] = r
	s.last[""] = r
	s.log = append(s.log, r)
	if len(s.log) >= 2*logKeep {
		s.log = append([]*Request(nil), s.log[len(s.log)-logKeep:]...)
	}
}

// finish records how the request was answered.
func (s *Server) finish(r *Request, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Status, r.ErrorCode = status, code
}

// finishToken records a token endpoint answer (under s.mu).
func finishToken(r *Request, status int, out *omap) {
	r.Status = status
	if code, ok := out.get("error"); ok {
		r.ErrorCode, _ = code.(string)
		return
	}
	uid, _ := out.get("user_id")
	r.UserID, _ = uid.(int)
	r.ClientID, _ = r.Params["client_id"].(string)
}

// finishFaulted records how a faulted request was answered: the fault's status, and
// the error code when its body is a JSON error.
func (s *Server) finishFaulted(r *Request, f *Fault) {
	if f.DropConnection {
		s.finish(r, 0, "")
		return
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(f.Body), &e)
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	s.finish(r, status, e.Error)
}

// RequestLog is an ordered list of requests, oldest first. Its methods filter it.
type RequestLog []Request

// RequestLog returns a copy of the request log: every HTTP request in arrival order,
// the token endpoint's included, refused and faulted ones too. A batch is one entry (its
// commands are counted by [Server.Calls]). The log keeps at least the newest 10,000
// entries.
func (s *Server) RequestLog() RequestLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(RequestLog, len(s.log))
	for i, r := range s.log {
		out[i] = r.clone()
	}
	return out
}

// ResetRequestLog empties the request log and forgets the last requests. The counters
// ([Server.Requests], [Server.Calls]) are kept.
func (s *Server) ResetRequestLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
	clear(s.last)
}

// Filter returns the entries for which keep reports true.
func (l RequestLog) Filter(keep func(Request) bool) RequestLog {
	var out RequestLog
	for _, r := range l {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// ForMethod returns the requests of method (case-insensitive, ".json" ignored;
// "oauth/token" for the token endpoint).
func (l RequestLog) ForMethod(method string) RequestLog {
	m := normMethod(method)
	return l.Filter(func(r Request) bool { return r.Method == m })
}

// ForUser returns the requests that ran for portal user id.
func (l RequestLog) ForUser(id int) RequestLog {
	return l.Filter(func(r Request) bool { return r.UserID == id })
}

// WithErrorCode returns the requests answered with error code (case-insensitive).
func (l RequestLog) WithErrorCode(code string) RequestLog {
	return l.Filter(func(r Request) bool { return strings.EqualFold(r.ErrorCode, code) })
}

// Failed returns the requests answered with an error code or an HTTP status of 400 or
// more.
func (l RequestLog) Failed() RequestLog {
	return l.Filter(func(r Request) bool { return r.ErrorCode != "" || r.Status >= http.StatusBadRequest })
}

// Methods returns the method of each entry, in order.
func (l RequestLog) Methods() []string {
	out := make([]string, len(l))
	for i, r := range l {
		out[i] = r.Method
	}
	return out
}

// Requests returns how many HTTP requests arrived for method (case-insensitive, suffix
// ignored; "oauth/token" for the token endpoint), refused and faulted ones included; ""
// counts every request. A batch is one request of "batch".
func (s *Server) Requests(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if method == "" {
		return s.total
	}
	return s.requests[normMethod(method)]
}

// Calls returns how many times method actually ran, inside batches included.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[normMethod(method)]
}

// LastRequest returns the last request of method ("" for any) since the server started
// or [Server.ResetRequestLog].
func (s *Server) LastRequest(method string) (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := ""
	if method != "" {
		key = normMethod(method)
	}
	r, ok := s.last[key]
	if !ok {
		return Request{}, false
	}
	return r.clone(), true
}

// QueryLimitRefusals returns how many 503 QUERY_LIMIT_EXCEEDED answers were sent.
func (s *Server) QueryLimitRefusals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusals
}

// Refreshes returns how many refresh_token grants succeeded.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}
