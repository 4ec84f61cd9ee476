package bitrix24test

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is a canned misbehaviour for [Server.InjectFault]. A faulted call does not run
// the method and does not touch the leaky bucket.
//
//   - Delay: sleep first (ending early when the client goes away). With nothing else
//     set, the call then proceeds normally.
//   - DropConnection: hijack the connection and close it without answering.
//   - Status/Body/ContentType: the answer (Status 0 means 200; ContentType defaults to
//     "application/json; charset=utf-8").
//   - TruncateAfter: send only the first TruncateAfter bytes of the body (Body, or a
//     valid success envelope when Body is empty), with a matching Content-Length, so the
//     client receives a well-formed HTTP response holding cut-off JSON.
type Fault struct {
	Status         int
	Body           string
	ContentType    string
	Delay          time.Duration
	DropConnection bool
	TruncateAfter  int
}

type faultEntry struct {
	method string // lower-cased; "*" any request
	left   int
	fault  Fault
}

// InjectFault makes the next n requests of method (case-insensitive, ".json" suffix
// ignored; "*" for any request; "oauth/token" for the token endpoint) answer f instead
// of running. Faults are consumed in the order they were injected.
func (s *Server) InjectFault(method string, n int, f Fault) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultEntry{method: normMethod(method), left: n, fault: f})
}

// ClearFaults drops every pending fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func normMethod(m string) string {
	m = strings.ToLower(strings.TrimSpace(m))
	if m == "*" || m == "" || m == tokenMethod || strings.HasPrefix(m, "/") {
		return strings.TrimPrefix(m, "/")
	}
	return parseRoute("/rest/" + m).method
}

// takeFault consumes the first pending fault matching method (under s.mu).
func (s *Server) takeFault(method string) *Fault {
	for i, e := range s.faults {
		if e.method != "*" && e.method != method {
			continue
		}
		e.left--
		if e.left <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		f := e.fault
		s.faulted++
		return &f
	}
	return nil
}

// FaultsApplied returns how many injected faults requests have met so far.
func (s *Server) FaultsApplied() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faulted
}

// applyFault carries out f and reports whether the request should go on normally.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		case <-s.done:
			t.Stop()
			return false
		}
	}
	if f.DropConnection {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return false
			}
		}
		panic(http.ErrAbortHandler) // aborts the response without answering
	}
	if f.Status == 0 && f.Body == "" && f.TruncateAfter <= 0 {
		return true
	}
	body := f.Body
	if body == "" && f.TruncateAfter > 0 {
		body = s.cannedEnvelope()
	}
	if f.TruncateAfter > 0 && f.TruncateAfter < len(body) {
		body = body[:f.TruncateAfter]
	}
	ct := f.ContentType
	if ct == "" {
		ct = "application/json; charset=utf-8"
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
	return false
}

func (s *Server) cannedEnvelope() string {
	now := s.cfg.now()
	env := newOmap()
	env.set("result", true)
	env.set("time", timeInfo{start: now, finish: now, withOperating: true, resetAt: now.Unix() + limiterBucketSize*limiterBucketCount}.toMap())
	return string(phpJSON(env))
}

// FaultError answers {"error": code, "error_description": description} with status,
// encoded like the portal does.
func FaultError(status int, code, description string) Fault {
	e := &restError{code: code, description: description}
	return Fault{Status: status, Body: string(phpJSON(e.body())), ContentType: "application/json; charset=utf-8"}
}

// FaultHTML answers an nginx-like HTML error page (e.g. 502 Bad Gateway).
func FaultHTML(status int) Fault {
	line := strconv.Itoa(status) + " " + http.StatusText(status)
	body := "<html>\r\n<head><title>" + line + "</title></head>\r\n<body>\r\n<center><h1>" + line +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	return Fault{Status: status, Body: body, ContentType: "text/html"}
}

// FaultTruncatedJSON answers 200 with a success envelope cut off after 20 bytes.
func FaultTruncatedJSON() Fault {
	return Fault{Status: http.StatusOK, TruncateAfter: 20}
}

// FaultDelay delays the call by d, then runs it normally.
func FaultDelay(d time.Duration) Fault { return Fault{Delay: d} }

// FaultDrop closes the connection without answering.
func FaultDrop() Fault { return Fault{DropConnection: true} }
