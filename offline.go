package bitrix24

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"reflect"
	"time"
)

// OfflineEvent is one record of the portal's offline queue (event.offline.get): what
// changed, not how. Read the object's current state with its own method.
type OfflineEvent struct {
	ID         ID
	MessageID  string         // MESSAGE_ID: md5 of the event name and data; one record per object and change kind
	Event      string         // EVENT_NAME, e.g. "ONCRMDEALUPDATE"
	Data       map[string]any // EVENT_DATA (false means empty), e.g. {"FIELDS": {"ID": 42}}
	Additional map[string]any // EVENT_ADDITIONAL, e.g. {"user_id": 1}: who made the change
	Timestamp  time.Time      // TIMESTAMP_X: the last change (records of one object merge)

	// ProcessID is the process_id of the page the record was reserved in, and Connector
	// the queue it came from: [EventService.Clear] and [EventService.MarkFailed] need them.
	ProcessID string
	Connector string
}

// OfflineOption adjusts [EventService.Offline].
type OfflineOption func(*offlineOptions)

type offlineOptions struct {
	limit     int
	filter    map[string]any
	connector string
	poll      time.Duration
	errored   bool
	err       error
}

// DefaultOfflinePageSize is the page size of [EventService.Offline]: event.offline.get's
// default limit.
const DefaultOfflinePageSize = 50

// OfflinePageSize sets how many records a page reserves (event.offline.get's limit;
// default [DefaultOfflinePageSize]). n must be positive.
func OfflinePageSize(n int) OfflineOption {
	return func(o *offlineOptions) {
		if n < 1 {
			o.err = invalid("OfflinePageSize", "must be at least 1")
			return
		}
		o.limit = n
	}
}

// OfflineFilter restricts the records read, with the keys event.offline.get accepts: ID,
// TIMESTAMP_X, EVENT_NAME and MESSAGE_ID, each with an optional operation before it ("=",
// ">", "<", ">=", "<=", "@", "%" for a substring), e.g.
// {"=EVENT_NAME": "ONCRMDEALUPDATE"}. Values are scalars: the get that reserves a page
// refuses a list or an object (EventOfflineTable::markEvents), so they are refused here.
func OfflineFilter(filter map[string]any) OfflineOption {
	return func(o *offlineOptions) {
		for k, v := range filter {
			if err := checkOfflineFilterKey(k); err != nil {
				o.err = err
				return
			}
			if v != nil {
				switch t := reflect.TypeOf(v); t.Kind() {
				case reflect.Slice, reflect.Array, reflect.Map:
					if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
						break // []byte is a string on the wire
					}
					o.err = invalid("OfflineFilter", fmt.Sprintf("%q: the value must be a string or a number, not %T: the portal refuses a list or an object in the filter of the get that reserves a page", k, v))
					return
				}
			}
		}
		o.filter = maps.Clone(filter)
	}
}

// FromConnector reads the queue of connector id: the events of the offline bindings made
// with [EventBinding].Connector id. Without it, Offline reads the queue of the bindings
// made without a connector.
func FromConnector(id string) OfflineOption {
	return func(o *offlineOptions) {
		if err := checkConnector("FromConnector", id); err != nil {
			o.err = err
			return
		}
		o.connector = id
	}
}

// OfflinePoll makes Offline wait for more events, asking again every interval, instead of
// ending when none are left. It then ends only when ctx does (yielding ctx's error) or
// the loop breaks. interval must be positive; an interval under one second costs the
// portal's rate limit for nothing: the portal is not faster than that.
func OfflinePoll(interval time.Duration) OfflineOption {
	return func(o *offlineOptions) {
		if interval <= 0 {
			o.err = invalid("OfflinePoll", "interval must be positive")
			return
		}
		o.poll = interval
	}
}

// OfflineErrored reads the records marked failed with [EventService.MarkFailed]
// (event.offline.get with error=1) instead of the others.
func OfflineErrored() OfflineOption {
	return func(o *offlineOptions) { o.errored = true }
}

// offlineFilterFields are the fields event.offline.get filters on; operations are the
// ones IRestService::sanitizeFilter allows.
var (
	offlineFilterFields = map[string]bool{"ID": true, "TIMESTAMP_X": true, "EVENT_NAME": true, "MESSAGE_ID": true}
	offlineFilterOps    = map[string]bool{"": true, "=": true, ">": true, "<": true, ">=": true, "<=": true, "@": true, "%": true}
)

func checkOfflineFilterKey(key string) error {
	i := 0
	for i < len(key) && !(key[i] >= 'a' && key[i] <= 'z' || key[i] >= 'A' && key[i] <= 'Z') {
		i++
	}
	op, field := key[:i], key[i:]
	if !offlineFilterOps[op] {
		return invalid("OfflineFilter", fmt.Sprintf("%q: operation %q is not one of =, >, <, >=, <=, @, %% (the portal refuses it)", key, op))
	}
	if !offlineFilterFields[upperASCII(field)] {
		return invalid("OfflineFilter", fmt.Sprintf("%q: field must be ID, TIMESTAMP_X, EVENT_NAME or MESSAGE_ID", key))
	}
	return nil
}

func upperASCII(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch >= 'a' && ch <= 'z' {
			b[i] = ch - 'a' + 'A'
		}
	}
	return string(b)
}

func newOfflineOptions(opts []OfflineOption) (offlineOptions, error) {
	o := offlineOptions{limit: DefaultOfflinePageSize}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
		if o.err != nil {
			return o, o.err
		}
	}
	return o, nil
}

// Offline yields the events the portal kept for this application (event.offline.get
// with clear=0), at least once each.
//
// A page is reserved under a process_id (hidden from other readers) and its events
// yielded; it is cleared (event.offline.clear with that process_id and the page's IDs)
// only when the loop asks for the next event after the page's last one. A page reserved
// earlier and never cleared — the process crashed, or the loop broke out — is found
// again first (event.offline.list shows its PROCESS_ID) and yielded before new ones, by
// this client or a fresh one. So a consumer that stops between handling and clearing
// sees those events again: make handling idempotent. Offline assumes one consumer per
// queue: a second one started while the first holds a page yields that page too.
//
// Without [OfflinePoll] it ends when no events are left. After an error the iterator
// stops; the page in hand stays reserved and comes again next time. The portal needs the
// rest_offline_extended feature for clear=0 (WRONG_LICENSE, [ErrWrongLicense],
// otherwise: Offline never falls back to deleting on read) and an administrator.
func (s *EventService) Offline(ctx context.Context, opts ...OfflineOption) iter.Seq2[OfflineEvent, error] {
	return func(yield func(OfflineEvent, error) bool) {
		c, err := clientOf((*service)(s))
		if err != nil {
			yield(OfflineEvent{}, err)
			return
		}
		o, err := newOfflineOptions(opts)
		if err != nil {
			yield(OfflineEvent{}, err)
			return
		}
		r := offlineReader{c: c, o: o}
		pending, err := r.reserved(ctx)
		if err != nil {
			yield(OfflineEvent{}, err)
			return
		}
		var seen map[ID]bool // of the reserved page being recovered
		for {
			var page offlinePage
			recovering := len(pending) > 0
			if recovering {
				page, err = r.get(ctx, pending[0])
				page = recovered(page, pending[0], &seen)
			} else {
				page, err = r.get(ctx, "")
			}
			if err != nil {
				yield(OfflineEvent{}, err)
				return
			}
			if len(page.events) == 0 {
				seen = nil
				if recovering {
					pending = pending[1:]
					continue
				}
				if !r.wait(ctx, yield) {
					return
				}
				continue
			}
			for _, ev := range page.events {
				if !yield(ev, nil) {
					return // not cleared: the page comes again
				}
			}
			if err := r.clear(ctx, page); err != nil {
				yield(OfflineEvent{}, err)
				return
			}
			if !recovering && len(page.events) < o.limit && !r.wait(ctx, yield) {
				return // a short page: the queue was drained
			}
		}
	}
}

// recovered keeps, of a reserved page read again, the records not yielded yet in this
// walk (seen holds the others), and names the page by its process_id even when the
// server did not echo it. A server that did not clear what it was told to clear then
// yields nothing new, and the walk moves on instead of yielding the page forever.
func recovered(page offlinePage, processID string, seen *map[ID]bool) offlinePage {
	if *seen == nil {
		*seen = map[ID]bool{}
	}
	page.processID = processID
	fresh := page.events[:0]
	for _, ev := range page.events {
		if !(*seen)[ev.ID] {
			(*seen)[ev.ID] = true
			ev.ProcessID = processID
			fresh = append(fresh, ev)
		}
	}
	page.events = fresh
	return page
}

// wait is what happens when the queue is drained: the end without polling, else a pause
// of the poll interval. false ends the iterator (ctx's error has been yielded).
func (r *offlineReader) wait(ctx context.Context, yield func(OfflineEvent, error) bool) bool {
	if r.o.poll <= 0 {
		return false
	}
	if err := sleepCtx(ctx, r.o.poll); err != nil {
		yield(OfflineEvent{}, fmt.Errorf("bitrix24: waiting for offline events: %w", err))
		return false
	}
	return true
}
