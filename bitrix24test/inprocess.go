package bitrix24test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
)

// InProcessClient returns an *http.Client whose requests never touch the network: each
// one is served by calling the server's handler in the calling goroutine, the answer
// being recorded in memory. Requests to another host fail.
//
// It exists for tests inside a testing/synctest bubble. There, network I/O does not
// block durably, so the bubble's clock could not advance while a request is in flight
// over [Server.Client]; in process, the fake's clock (time.Now unless [WithClock]) is the
// bubble's, and a request arrives at the very instant it is sent. The server must still
// be created outside the bubble (it listens on loopback) and closed by the test.
//
// Requests to an https URL are served as if over TLS; with [WithPlainHTTP] they are
// plain, as over [Server.Client].
func (s *Server) InProcessClient() *http.Client {
	return &http.Client{Transport: inProcess{s: s}}
}

// inProcess is the RoundTripper of [Server.InProcessClient].
type inProcess struct{ s *Server }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		defer r.Body.Close() // a RoundTripper closes the body, even on errors
	}
	u, err := url.Parse(t.s.URL)
	if err != nil {
		return nil, fmt.Errorf("bitrix24test: in-process client: %w", err)
	}
	if r.URL.Scheme != u.Scheme || r.URL.Host != u.Host {
		return nil, fmt.Errorf("bitrix24test: in-process client: %s://%s is not this server", r.URL.Scheme, r.URL.Host)
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	// A RoundTripper must not modify the caller's request; the server side sees a copy
	// that looks like one read from a connection.
	in := r.Clone(r.Context())
	in.RequestURI = r.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:1"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	if u.Scheme == "https" {
		in.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true, ServerName: u.Hostname()}
	}
	rec := httptest.NewRecorder()
	t.s.serveHTTP(rec, in)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}
