package bitrix24

// CallOption adjusts one call of [Client.Call] (and of the iterators built on it).
type CallOption func(*callOptions)

type callOptions struct {
	idempotent bool
	resp       *Response
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
