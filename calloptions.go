package bitrix24

import (
	"fmt"
	"unicode/utf8"
)

// CallOption adjusts one call of [Client.Call] (and of the iterators built on it).
type CallOption func(*callOptions)

type callOptions struct {
	idempotent    bool
	resp          *Response
	authConnector string // WithAuthConnector: sent as "auth_connector"
	reserves      bool   // the call changes state although its name reads like a read (event.offline.get with clear=0)
	err           error  // a bad option: the call fails with it before anything is sent
}

func newCallOptions(opts []CallOption) callOptions {
	var co callOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&co)
		}
	}
	return co
}

// WithIdempotent declares that this call may be repeated after an ambiguous failure
// (timeout, reset, 5xx, an unreadable answer): the retry policy then treats it like a
// read. Answers that would come again (ERROR_ARGUMENT, auth errors) are still not
// retried.
func WithIdempotent() CallOption {
	return func(o *callOptions) { o.idempotent = true }
}

// WithResponse fills r with the answer's metadata once the call succeeds. Every field of
// r is overwritten, so a reused Response keeps nothing of an earlier call; on failure r
// is left as it was.
func WithResponse(r *Response) CallOption {
	return func(o *callOptions) { o.resp = r }
}

// maxConnectorLen is the width of the portal's CONNECTOR_ID column (varchar 255).
const maxConnectorLen = 255

// WithAuthConnector marks a write as made by connector id, so that the portal keeps it out
// of that connector's offline queue (a tool does not read back its own changes). The
// portal skips an offline event when the application that made the change is the one
// whose binding would record it and the call's auth_connector equals the binding's
// connector ([EventBinding].Connector): bind the tool's events with Connector id, make its
// writes with WithAuthConnector(id), and the queue read with [FromConnector](id) holds
// only what others changed. Bitrix24 offers auth_connector on paid plans (Professional
// and above). id must be 1 to 255 bytes of UTF-8; it travels like the token ("auth_connector"),
// which the server takes out of the method's parameters.
func WithAuthConnector(id string) CallOption {
	return func(o *callOptions) {
		if err := checkConnector("WithAuthConnector", id); err != nil {
			o.err = err
			return
		}
		o.authConnector = id
	}
}

// checkConnector keeps a connector id to what the portal stores.
func checkConnector(field, id string) error {
	switch {
	case id == "":
		return invalid(field, "connector id must not be empty")
	case len(id) > maxConnectorLen:
		return invalid(field, fmt.Sprintf("connector id must be at most %d bytes", maxConnectorLen))
	case !utf8.ValidString(id):
		// JSON would carry U+FFFD instead: another connector than the caller's.
		return invalid(field, "connector id must be valid UTF-8")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return invalid(field, "connector id must not contain control characters")
		}
	}
	return nil
}

// Response is the metadata of a successful answer.
type Response struct {
	StatusCode int
	Total      int  // "total" of list methods (0 when absent)
	Next       int  // "next": the offset of the next page, meaningful when HasNext
	HasNext    bool // whether "next" was present (0 is a valid offset)
	Time       CallTime
}

// fill copies the answer's metadata into the caller's Response, if one was given.
func (co callOptions) fill(ans answer) {
	if co.resp == nil {
		return
	}
	*co.resp = Response{
		StatusCode: ans.status,
		Total:      ans.env.Total,
		Next:       ans.env.Next,
		HasNext:    ans.env.HasNext,
		Time:       callTime(ans.env.Time),
	}
}
