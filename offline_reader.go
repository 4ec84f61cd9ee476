package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/b24go/bitrix24/internal/envelope"
)

// offlineReader makes the calls of one [EventService.Offline] walk.
type offlineReader struct {
	c *Client
	o offlineOptions
}

// offlinePage is one answer of event.offline.get.
type offlinePage struct {
	processID string // "" when the server deleted on read (it ignored clear=0)
	events    []OfflineEvent
}

// opts are the call options every call of the walk shares: the queue's connector,
// which travels as auth_connector outside any batch (the portal reads it from the
// request's authorization data).
func (r *offlineReader) opts(co callOptions) callOptions {
	co.authConnector = r.o.connector
	return co
}

// reserved finds the pages reserved earlier and never cleared: event.offline.list with
// filter ">PROCESS_ID" = "" (the portal's filter has no "not equal"; every non-empty
// PROCESS_ID is greater than the empty one), in record order. Their process ids are
// returned in the order their first record appears. A server that refuses that filter
// (ERROR_ARGUMENT) is asked again without it; the records are checked here anyway.
func (r *offlineReader) reserved(ctx context.Context) ([]string, error) {
	filter := map[string]any{">PROCESS_ID": "", "ERROR": 0}
	if r.o.errored {
		filter["ERROR"] = 1
	}
	for k, v := range r.o.filter {
		filter[k] = v
	}
	ids, err := r.listReserved(ctx, filter)
	if errors.Is(err, ErrArgument) {
		delete(filter, ">PROCESS_ID")
		ids, err = r.listReserved(ctx, filter)
	}
	return ids, err
}

func (r *offlineReader) listReserved(ctx context.Context, filter map[string]any) ([]string, error) {
	p := map[string]any{"filter": filter, "order": map[string]string{"ID": "ASC"}}
	var ids []string
	for start := 0; ; {
		p["start"] = start
		ans, err := r.c.do(ctx, "event.offline.list", p, r.opts(callOptions{idempotent: true}))
		if err != nil {
			return nil, err
		}
		var recs []struct {
			ProcessID json.RawMessage `json:"PROCESS_ID"`
		}
		if err := json.Unmarshal(ans.env.Result, &recs); err != nil && !envelope.IsEmptyList(ans.env.Result) {
			return nil, &UnexpectedResponseError{Method: "event.offline.list", StatusCode: ans.status,
				Reason: "result is not a list of records: " + err.Error()}
		}
		for _, rec := range recs {
			if pid := recordText(rec.ProcessID); pid != "" && !slices.Contains(ids, pid) {
				ids = append(ids, pid)
			}
		}
		if !ans.env.HasNext || len(recs) == 0 {
			return ids, nil
		}
		if ans.env.Next <= start {
			return nil, fmt.Errorf("%w: %w", ErrCursorStalled, &UnexpectedResponseError{Method: "event.offline.list", StatusCode: ans.status,
				Reason: fmt.Sprintf("paging does not advance (start %d, next %d)", start, ans.env.Next)})
		}
		start = ans.env.Next
	}
}

// get reserves a new page (processID "") or reads again the page reserved under
// processID, always with clear=0. Reserving changes the queue, so it is not repeated
// after an ambiguous failure (a lost answer leaves a reserved page that the next walk
// finds); reading a reserved page again is.
func (r *offlineReader) get(ctx context.Context, processID string) (offlinePage, error) {
	p := map[string]any{"clear": 0}
	p["limit"] = r.o.limit
	if r.o.errored {
		p["error"] = 1
	}
	if len(r.o.filter) > 0 {
		p["filter"] = r.o.filter
	}
	co := callOptions{reserves: processID == "", idempotent: processID != ""}
	if processID != "" {
		p["process_id"] = processID
	}
	ans, err := r.c.do(ctx, "event.offline.get", p, r.opts(co))
	if err != nil {
		return offlinePage{}, err
	}
	return decodeOfflinePage(ans.env.Result, r.o.connector)
}

// clear deletes the page's records (event.offline.clear with its process_id and their
// IDs, so that records of the page not yielded — a page reserved with a larger limit —
// stay reserved). Records marked failed meanwhile have left the page and stay.
func (r *offlineReader) clear(ctx context.Context, page offlinePage) error {
	if page.processID == "" {
		return nil // deleted on read already
	}
	return r.c.Event.Clear(ctx, page.events...)
}

// offlineRecord is one record as event.offline.get and event.offline.list send it.
type offlineRecord struct {
	ID              ID              `json:"ID"`
	TimestampX      string          `json:"TIMESTAMP_X"`
	EventName       string          `json:"EVENT_NAME"`
	EventData       json.RawMessage `json:"EVENT_DATA"`
	EventAdditional json.RawMessage `json:"EVENT_ADDITIONAL"`
	MessageID       json.RawMessage `json:"MESSAGE_ID"`
}

func decodeOfflinePage(raw json.RawMessage, connector string) (offlinePage, error) {
	var res struct {
		ProcessID json.RawMessage `json:"process_id"`
		Events    json.RawMessage `json:"events"`
	}
	bad := func(reason string) (offlinePage, error) {
		return offlinePage{}, &UnexpectedResponseError{Method: "event.offline.get", StatusCode: 200, Reason: reason}
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return bad("result is not an object with process_id and events")
	}
	page := offlinePage{processID: recordText(res.ProcessID)}
	var recs []offlineRecord
	if len(res.Events) > 0 && !bytes.Equal(res.Events, []byte("null")) {
		if err := json.Unmarshal(res.Events, &recs); err != nil {
			return bad("events is not a list of records: " + err.Error())
		}
	}
	for _, rec := range recs {
		ev := OfflineEvent{
			ID:         rec.ID,
			MessageID:  recordText(rec.MessageID),
			Event:      rec.EventName,
			Data:       phpMap(rec.EventData),
			Additional: phpMap(rec.EventAdditional),
			ProcessID:  page.processID,
			Connector:  connector,
		}
		ev.Timestamp, _ = time.Parse(time.RFC3339, rec.TimestampX) // zero when the portal sends another form
		page.events = append(page.events, ev)
	}
	return page, nil
}

// recordText reads a JSON string or number as text; "" for null, false and the rest.
func recordText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
		return string(raw)
	}
	return ""
}

// phpMap decodes a serialized PHP array as the portal sends it: an object, a list (keys
// "0".."n-1"), or false/null/[] for nothing. Anything else is empty too. Never nil.
func phpMap(raw json.RawMessage) map[string]any {
	out := map[string]any{}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return out
	}
	switch x := v.(type) {
	case map[string]any:
		return x
	case []any:
		for i, e := range x {
			out[fmt.Sprint(i)] = e
		}
	}
	return out
}

// Clear deletes the given records from the portal's queue (event.offline.clear by their
// page's process_id and their IDs). [EventService.Offline] clears each page by itself;
// Clear is for a consumer that stops in the middle of a page and wants the records it
// handled gone, leaving the rest of the page to come again. Records whose page was not
// reserved (ProcessID empty) are refused with ErrValidation.
func (s *EventService) Clear(ctx context.Context, events ...OfflineEvent) error {
	return s.perPage(ctx, "event.offline.clear", events, func(p map[string]any, evs []OfflineEvent) {
		ids := make([]ID, len(evs))
		for i, ev := range evs {
			ids[i] = ev.ID
		}
		p["id"] = ids
	})
}

// MarkFailed reports that handling the given records failed (event.offline.error by their
// page's process_id and MESSAGE_IDs): the portal takes them out of their page, so that
// clearing it keeps them, and keeps them apart as errors (read them with
// [OfflineErrored]). Other unreserved records of the same objects are dropped by the
// portal: the failed record stands for them.
func (s *EventService) MarkFailed(ctx context.Context, events ...OfflineEvent) error {
	for _, ev := range events {
		if ev.MessageID == "" {
			return invalid("OfflineEvent.MessageID", "is required to mark a record failed")
		}
	}
	return s.perPage(ctx, "event.offline.error", events, func(p map[string]any, evs []OfflineEvent) {
		ids := make([]string, len(evs))
		for i, ev := range evs {
			ids[i] = ev.MessageID
		}
		p["message_id"] = ids
	})
}

// perPage sends method once per (process_id, connector) of events, in the order the
// pages first appear.
func (s *EventService) perPage(ctx context.Context, method string, events []OfflineEvent, fill func(map[string]any, []OfflineEvent)) error {
	c, err := clientOf((*service)(s))
	if err != nil {
		return err
	}
	type pageKey struct{ processID, connector string }
	var keys []pageKey
	groups := map[pageKey][]OfflineEvent{}
	for _, ev := range events {
		if ev.ProcessID == "" {
			return invalid("OfflineEvent.ProcessID", "is required: the record must come from a reserved page (Offline)")
		}
		if ev.Connector != "" {
			if err := checkConnector("OfflineEvent.Connector", ev.Connector); err != nil {
				return err
			}
		}
		k := pageKey{ev.ProcessID, ev.Connector}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], ev)
	}
	for _, k := range keys {
		p := map[string]any{"process_id": k.processID}
		fill(p, groups[k])
		// Deleting twice deletes nothing more; marking failed is not repeated.
		co := callOptions{idempotent: method == "event.offline.clear", authConnector: k.connector}
		if _, err := c.do(ctx, method, p, co); err != nil {
			return err
		}
	}
	return nil
}
