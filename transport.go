package bitrix24

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/go-resty/resty/v2"

	"github.com/b24go/bitrix24/internal/redact"
)

// This file is the only one that knows the HTTP library. Everything above it — REST
// calls, the token endpoint, the application's OAuth calls — sends a body and gets back
// an httpAnswer: status, headers and a body read up to a limit.

// httpAnswer is one HTTP answer, its body fully read (at most limit+1 bytes, so that the
// caller can tell an oversized answer). release returns the body's buffer to the pool;
// nothing may keep body after it.
type httpAnswer struct {
	status int
	header http.Header
	body   []byte
	buf    *[]byte
}

func (a *httpAnswer) release() {
	if a.buf != nil {
		*a.buf = a.body
		putBuffer(a.buf)
		a.buf, a.body = nil, nil
	}
}

// transport sends requests through resty with the guards every call needs.
type transport struct {
	rc      *resty.Client
	maxBody int64
	secrets *redact.Secrets
}

// noReplayKey marks, in a request's context, a body the HTTP layer must not send again
// by itself.
type noReplayKey struct{}

// newTransport builds the HTTP layer:
//   - a copy of the user's *http.Client without a cookie jar (resty would add one, and a
//     portal's cookies must not travel between calls of different users);
//   - a redacting logger, always installed: resty logs failed attempts with their URL,
//     which holds the webhook code, even without debug;
//   - a redirect policy that stays on the same host (the code sits in the path);
//   - no body replay for calls that may not run twice: Go's HTTP/2 transport re-sends a
//     request by itself after some stream resets when it can rewind the body.
func newTransport(o options, secrets *redact.Secrets) *transport {
	hc := &http.Client{}
	if o.httpClient != nil {
		copied := *o.httpClient
		hc = &copied
	}
	hc.Jar = nil
	rc := resty.NewWithClient(hc)
	rc.SetLogger(restyLogger{log: o.logger, secrets: secrets})
	rc.SetTimeout(o.timeout)
	rc.SetRedirectPolicy(resty.RedirectPolicyFunc(sameHostRedirects))
	rc.SetPreRequestHook(func(_ *resty.Client, req *http.Request) error {
		if req.Context().Value(noReplayKey{}) != nil {
			req.GetBody = nil // the transports then cannot replay a body they already sent
		}
		return nil
	})
	return &transport{rc: rc, maxBody: o.maxResponseSize, secrets: secrets}
}

// maxRedirects is how many same-host redirects a call follows.
const maxRedirects = 3

// sameHostRedirects follows at most maxRedirects redirects, and only on the same host
// without leaving https: the webhook code sits in the path and must not travel elsewhere.
// Any other redirect is handed back as the answer (and becomes an UnexpectedResponseError).
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if len(via) > maxRedirects || req.URL.Host != first.Host || (first.Scheme == "https" && req.URL.Scheme != "https") {
		return http.ErrUseLastResponse
	}
	return nil
}

// Header values shared by all requests and never modified (capacity equals length, so
// an append would copy).
var (
	jsonHeaderValue = []string{"application/json"}
	formHeaderValue = []string{"application/x-www-form-urlencoded"}
)

// requestIDHeader is X-Request-ID in the canonical form of http.Header's keys.
const requestIDHeader = "X-Request-Id"

// post sends body to target and reads the answer. replayable false forbids the HTTP
// layer to send the body a second time on its own. id is the X-Request-ID to send
// (empty: ctx's, see WithRequestID, or a fresh one). The error, if any, is already free
// of secrets along its whole chain.
func (t *transport) post(ctx context.Context, target string, contentType []string, body []byte, replayable bool, id string) (*httpAnswer, error) {
	if id == "" {
		var err error
		if id, err = requestIDOf(ctx); err != nil {
			return nil, err
		}
	}
	if !replayable {
		ctx = context.WithValue(ctx, noReplayKey{}, true)
	}
	req := t.rc.R()
	// Shared, never-modified values: SetHeader would allocate a slice per header and call.
	req.Header["Content-Type"] = contentType
	req.Header["Accept"] = jsonHeaderValue
	req.Header[requestIDHeader] = []string{id}
	// A *bytes.Reader is sent as is; a []byte would be copied twice by resty.
	resp, err := req.SetContext(ctx).SetBody(bytes.NewReader(body)).SetDoNotParseResponse(true).Post(target)
	if err != nil {
		return nil, cleanError(t.secrets, err)
	}
	raw := resp.RawBody()
	defer raw.Close()
	ans := &httpAnswer{status: resp.StatusCode(), header: resp.Header(), buf: getBuffer()}
	size := int64(-1)
	if resp.RawResponse != nil {
		size = resp.RawResponse.ContentLength
	}
	ans.body, err = readBody(raw, bodyLimit(ctx, t.maxBody)+1, size, *ans.buf)
	if err != nil {
		ans.release()
		return nil, fmt.Errorf("reading the answer: %w", cleanError(t.secrets, err))
	}
	return ans, nil
}

// postForm sends form as application/x-www-form-urlencoded: the token endpoint's way, which
// keeps secrets out of URLs.
func (t *transport) postForm(ctx context.Context, target string, form url.Values, replayable bool) (*httpAnswer, error) {
	return t.post(ctx, target, formHeaderValue, []byte(form.Encode()), replayable, "")
}

// bufferPool recycles the buffers answers are read into. Nothing keeps a reference to a
// buffer after release: the envelope decoder copies what it returns, and errors copy
// their snippets.
var bufferPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuffer keeps a rare huge answer from pinning its buffer in the pool.
const maxPooledBuffer = 1 << 20

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	bufferPool.Put(b)
}

// readBody is io.ReadAll(io.LimitReader(r, limit)) into buf: it reads until EOF, an
// error or limit bytes. size is the announced Content-Length (-1 when unknown): up to
// maxPooledBuffer, the buffer is sized for it at once. Beyond, it grows with what
// arrives, so a false Content-Length cannot make it allocate more than is sent.
func readBody(r io.Reader, limit, size int64, buf []byte) ([]byte, error) {
	buf = buf[:0]
	if size >= 0 && size < limit && size < maxPooledBuffer && int64(cap(buf)) <= size {
		buf = make([]byte, 0, size+1) // +1: room for the read that reports EOF
	}
	for int64(len(buf)) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		room := buf[len(buf):cap(buf)]
		if left := limit - int64(len(buf)); int64(len(room)) > left {
			room = room[:left]
		}
		n, err := r.Read(room)
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// restyLogger routes resty's own messages to slog, scrubbed: resty logs failed attempts
// with the full request URL, which holds the webhook code.
type restyLogger struct {
	log     *slog.Logger
	secrets *redact.Secrets
}

func (l restyLogger) Errorf(format string, v ...any) { l.emit(slog.LevelError, format, v) }
func (l restyLogger) Warnf(format string, v ...any)  { l.emit(slog.LevelWarn, format, v) }
func (l restyLogger) Debugf(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }

func (l restyLogger) emit(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	msg := strings.ToValidUTF8(l.secrets.String(fmt.Sprintf(format, v...)), "?")
	l.log.Log(ctx, level, msg, slog.String("source", "resty"))
}
