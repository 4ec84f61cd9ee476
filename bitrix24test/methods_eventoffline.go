package bitrix24test

import (
	"cmp"
	"crypto/md5"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The offline queue: event.offline.get, .clear, .error and .list, after the rest
// module's Api\Event and EventOfflineTable.
//
//   - A change (crm.item.add/update/delete) keeps one record per offline binding of its
//     event, unless the change was made by the binding's own application with the
//     binding's connector as auth_connector (ProviderOffline::send). So an application's
//     writes without auth_connector never reach its own connector-less queue, and its
//     writes with auth_connector X reach every queue but X's.
//   - Records merge on (MESSAGE_ID, application, connector, PROCESS_ID): MESSAGE_ID is
//     md5(EVENT_NAME|json(EVENT_DATA)), so a second change of an object whose record is
//     not reserved refreshes that record (TIMESTAMP_X, data) instead of adding one.
//   - event.offline.get with clear=0 needs the rest_offline_extended feature (on unless
//     [Server.SetOfflineExtended]); without process_id it reserves up to limit records
//     under a new 32-character process_id; with one it returns that page's records
//     again. clear (default 1) then deletes every record of the page.
//   - All four need an OAuth call (WRONG_AUTH_TYPE) of an administrator (ACCESS_DENIED).
//   - Records are kept until cleared: the 30-day expiry of reserved pages is not modelled.

// offlineEvent is a b_rest_event_offline row.
type offlineEvent struct {
	id         int
	ts         time.Time
	messageID  string
	clientID   string
	event      string
	data       any // a PHP array (map), or false
	additional any
	processID  string
	connector  string
	failed     bool // ERROR
}

// fireEvent keeps the offline records of one change made by the caller a (under s.mu).
func (s *Server) fireEvent(a *authInfo, name string, data *omap) {
	st := &s.events
	msgID := md5.Sum([]byte(name + "|" + string(phpJSON(data))))
	additional := newOmap()
	additional.set("user_id", a.userID)
	for _, b := range st.bindings {
		if !b.offline() || b.event != name {
			continue
		}
		if b.clientID == a.clientID() && b.connector == a.connector {
			continue // the application's own change through this connector
		}
		rec := &offlineEvent{
			ts: s.cfg.now().Truncate(time.Second), messageID: hex.EncodeToString(msgID[:]), clientID: b.clientID,
			event: name, data: deepCopy(data), additional: deepCopy(additional), connector: b.connector,
		}
		merged := false
		for _, o := range st.offline {
			if o.messageID == rec.messageID && o.clientID == rec.clientID && o.connector == rec.connector && o.processID == "" {
				o.ts, o.data, o.additional = rec.ts, rec.data, rec.additional
				merged = true
				break
			}
		}
		if !merged {
			st.lastEvent++
			rec.id = st.lastEvent
			st.offline = append(st.offline, rec)
		}
	}
}

// SetOfflineExtended switches the portal's rest_offline_extended feature (on by
// default): without it event.offline.get refuses clear=0 with 403 WRONG_LICENSE.
func (s *Server) SetOfflineExtended(enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events.noExtended = !enabled
}

// OfflineEvent is a record of the fake's offline queue, as [Server.OfflineEvents]
// returns it.
type OfflineEvent struct {
	ID        int
	Event     string
	MessageID string
	ClientID  string // the application whose binding keeps it
	Connector string
	ProcessID string // "" while not reserved
	Error     bool
	Data      map[string]any
}

// OfflineEvents returns the offline queue of every application, oldest record first.
func (s *Server) OfflineEvents() []OfflineEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]OfflineEvent, 0, len(s.events.offline))
	for _, e := range s.events.offline {
		d, _ := plainCopy(e.data).(map[string]any)
		out = append(out, OfflineEvent{ID: e.id, Event: e.event, MessageID: e.messageID, ClientID: e.clientID,
			Connector: e.connector, ProcessID: e.processID, Error: e.failed, Data: d})
	}
	return out
}

// offlineAccess is the check every event.offline.* method starts with.
func offlineAccess(c *callCtx) *restError {
	if c.auth.kind != "oauth" {
		return authTypeErr()
	}
	if !c.s.isAdmin(c.auth) {
		return accessDenied("")
	}
	return nil
}

// lowerKeys is array_change_key_case($query, CASE_LOWER).
func lowerKeys(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for _, k := range sortedKeys(p) {
		out[strings.ToLower(k)] = p[k]
	}
	return out
}

// offlineCond is one sanitized filter condition.
type offlineCond struct {
	op, field string
	value     any
}

var (
	offlineGetFields  = []string{"ID", "TIMESTAMP_X", "EVENT_NAME", "MESSAGE_ID"}
	offlineListFields = []string{"ID", "TIMESTAMP_X", "EVENT_NAME", "MESSAGE_ID", "PROCESS_ID", "ERROR"}
	offlineFilterOps  = []string{"", "=", ">", "<", ">=", "<=", "@", "%"}
)

// sanitizeOfflineFilter is IRestService::sanitizeFilter with the event fields.
func sanitizeOfflineFilter(v any, fields []string) ([]offlineCond, *restError) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if l, isList := v.([]any); isList && len(l) == 0 {
		m, ok = map[string]any{}, true
	}
	if !ok {
		return nil, eventArgErr("The filter is not an array.", "")
	}
	var conds []offlineCond
	for _, key := range sortedKeys(m) {
		k := strings.ToUpper(key)
		i := strings.IndexFunc(k, func(r rune) bool { return r >= 'A' && r <= 'Z' })
		if i < 0 {
			i = len(k)
		}
		op, field := k[:i], k[i:]
		if !slices.Contains(offlineFilterOps, op) {
			return nil, eventArgErr("Filter operation not allowed: "+op, "")
		}
		if !slices.Contains(fields, field) {
			return nil, eventArgErr("Filter field not allowed: "+field, "")
		}
		conds = append(conds, offlineCond{op: op, field: field, value: m[key]})
	}
	return conds, nil
}

func (e *offlineEvent) field(name string) any {
	switch name {
	case "ID":
		return e.id
	case "TIMESTAMP_X":
		return e.ts
	case "EVENT_NAME":
		return e.event
	case "MESSAGE_ID":
		return e.messageID
	case "PROCESS_ID":
		return e.processID
	case "ERROR":
		if e.failed {
			return 1
		}
		return 0
	}
	return nil
}

// compareOffline compares a record's field with a filter value: numbers as numbers,
// TIMESTAMP_X as times, the rest as strings (SQL's collation aside).
func compareOffline(have, want any) int {
	switch h := have.(type) {
	case int:
		return cmp.Compare(float64(h), phpFloatval(want))
	case time.Time:
		ws, _ := scalarString(want)
		wt, err := time.Parse(time.RFC3339, ws)
		if err != nil {
			return 1
		}
		return h.Compare(wt)
	}
	hs, _ := scalarString(have)
	ws, _ := scalarString(want)
	return strings.Compare(hs, ws)
}

func (oc offlineCond) match(e *offlineEvent) bool {
	have := e.field(oc.field)
	switch oc.op {
	case "@":
		list, _ := asMap(oc.value)
		for _, w := range list {
			if compareOffline(have, w) == 0 {
				return true
			}
		}
		return false
	case "%":
		hs, _ := scalarString(have)
		ws, _ := scalarString(oc.value)
		return strings.Contains(strings.ToLower(hs), strings.ToLower(ws))
	}
	r := compareOffline(have, oc.value)
	switch oc.op {
	case ">":
		return r > 0
	case "<":
		return r < 0
	case ">=":
		return r >= 0
	case "<=":
		return r <= 0
	}
	return r == 0
}

// offlineOrder is sanitizeOrder: {field: ASC|DESC} over the allowed fields.
func offlineOrder(v any, def string, fields []string) ([]crmOrder, *restError) {
	if v == nil {
		return []crmOrder{{field: def}}, nil
	}
	m, ok := asMap(v)
	if !ok {
		return nil, eventArgErr("The order is not an array.", "")
	}
	var out []crmOrder
	for _, key := range sortedKeys(m) {
		f := strings.ToUpper(key)
		if !slices.Contains(fields, f) {
			return nil, eventArgErr("Order field not allowed: "+f, "")
		}
		dir, _ := scalarString(m[key])
		out = append(out, crmOrder{field: f, desc: strings.EqualFold(dir, "DESC")})
	}
	if len(out) == 0 {
		out = []crmOrder{{field: def}}
	}
	return out, nil
}

// selectOffline returns the records of the caller's application and connector that
// match, sorted (then by ID).
func (s *Server) selectOffline(a *authInfo, conds []offlineCond, order []crmOrder) []*offlineEvent {
	var out []*offlineEvent
	for _, e := range s.events.offline {
		if e.clientID != a.clientID() || e.connector != a.connector {
			continue
		}
		ok := true
		for _, oc := range conds {
			if !oc.match(e) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(x, y *offlineEvent) int {
		for _, o := range order {
			r := compareRecords(x, y, o.field)
			if o.desc {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return cmp.Compare(x.id, y.id)
	})
	return out
}

// compareRecords orders two records by one field.
func compareRecords(x, y *offlineEvent, field string) int {
	switch field {
	case "ID":
		return cmp.Compare(x.id, y.id)
	case "TIMESTAMP_X":
		return x.ts.Compare(y.ts)
	case "ERROR":
		return cmp.Compare(x.field("ERROR").(int), y.field("ERROR").(int))
	}
	xs, _ := scalarString(x.field(field))
	ys, _ := scalarString(y.field(field))
	return strings.Compare(xs, ys)
}

// offlineRow is a record as get and list send it.
func (e *offlineEvent) row(withState bool) *omap {
	m := newOmap()
	m.set("ID", strconv.Itoa(e.id))
	m.set("TIMESTAMP_X", e.ts.Format("2006-01-02T15:04:05-07:00"))
	m.set("EVENT_NAME", e.event)
	m.set("EVENT_DATA", deepCopy(e.data))
	m.set("EVENT_ADDITIONAL", deepCopy(e.additional))
	m.set("MESSAGE_ID", e.messageID)
	if withState {
		m.set("PROCESS_ID", e.processID)
		if e.failed {
			m.set("ERROR", "1")
		} else {
			m.set("ERROR", "0")
		}
	}
	return m
}
