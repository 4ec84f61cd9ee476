package bitrix24test

import (
	"net/http"
	"slices"
	"strings"
)

// methodEventOfflineGet is Api\Event::eventOfflineGet.
func methodEventOfflineGet(c *callCtx) (any, *navData, *restError) {
	if err := offlineAccess(c); err != nil {
		return nil, nil, err
	}
	p := lowerKeys(c.params)
	clear := 1
	if v, ok := p["clear"]; ok {
		clear = phpIntval(v)
	}
	processID, hasPID := "", false
	if v, ok := p["process_id"]; ok && v != nil {
		s, _ := scalarString(v)
		processID, hasPID = strings.TrimSpace(s), true
	}
	if clear == 0 && c.s.events.noExtended {
		return nil, nil, newErr(http.StatusForbidden, "WRONG_LICENSE",
			"This feature is not enabled for the current license: extended offline events handling")
	}
	limit := 50
	if v, ok := p["limit"]; ok {
		limit = phpIntval(v)
	}
	getErrors := phpIntval(p["error"]) == 1
	if limit <= 0 {
		return nil, nil, eventArgErr("Value must be positive integer", "LIMIT")
	}
	conds, err := sanitizeOfflineFilter(p["filter"], offlineGetFields)
	if err != nil {
		return nil, nil, err
	}
	order, err := offlineOrder(p["order"], "TIMESTAMP_X", offlineGetFields)
	if err != nil {
		return nil, nil, err
	}
	conds = append(conds, offlineCond{op: "=", field: "ERROR", value: boolInt(getErrors)})
	returnPID := clear == 0
	if !hasPID {
		// EventOfflineTable::markEvents takes only scalar filter values: a list (e.g.
		// "@ID": [1, 2]) is an ArgumentTypeException naming the key.
		for _, cd := range conds {
			switch cd.value.(type) {
			case []any, map[string]any:
				return nil, nil, eventArgErr("The value of an argument '"+cd.op+cd.field+"' has an invalid type", cd.op+cd.field)
			}
		}
		processID = randString(32, alnum)
		marked := c.s.selectOffline(c.auth, append(conds, offlineCond{op: "=", field: "PROCESS_ID", value: ""}), order)
		for _, e := range marked[:min(limit, len(marked))] {
			e.processID = processID
		}
	} else {
		returnPID = true
	}
	page := c.s.selectOffline(c.auth, append(conds, offlineCond{op: "=", field: "PROCESS_ID", value: processID}), order)
	page = page[:min(limit, len(page))]
	events := make([]any, 0, len(page))
	for _, e := range page {
		events = append(events, e.row(false))
	}
	if clear != 0 && len(page) > 0 {
		c.s.deleteOffline(c.auth, func(e *offlineEvent) bool { return e.processID == processID })
	}
	res := newOmap()
	if returnPID {
		res.set("process_id", processID)
	} else {
		res.set("process_id", nil)
	}
	res.set("events", events)
	return res, nil, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// deleteOffline removes the caller's records (its application and connector) for which
// match holds.
func (s *Server) deleteOffline(a *authInfo, match func(e *offlineEvent) bool) {
	s.events.offline = slices.DeleteFunc(s.events.offline, func(e *offlineEvent) bool {
		return e.clientID == a.clientID() && e.connector == a.connector && match(e)
	})
}

// processIDParam reads process_id: ArgumentNullException when missing.
func processIDParam(p map[string]any) (string, *restError) {
	v, ok := p["process_id"]
	if !ok || v == nil {
		return "", argNull("PROCESS_ID")
	}
	s, _ := scalarString(v)
	return strings.TrimSpace(s), nil
}

// methodEventOfflineClear is Api\Event::eventOfflineClear: by message_id (32 characters
// each), else by id, else (no parameter, or an empty list) the whole page.
func methodEventOfflineClear(c *callCtx) (any, *navData, *restError) {
	if err := offlineAccess(c); err != nil {
		return nil, nil, err
	}
	p := lowerKeys(c.params)
	processID, err := processIDParam(p)
	if err != nil {
		return nil, nil, err
	}
	inPage := func(e *offlineEvent) bool { return e.processID == processID }
	if v, ok := p["message_id"]; ok {
		list, isArr := arrayParam(v)
		if !isArr {
			return nil, nil, eventArgErr("Value must be array of MESSAGE_ID values", "message_id")
		}
		ids := map[string]bool{}
		for _, x := range list {
			s, _ := scalarString(x)
			if s = strings.TrimSpace(s); len([]rune(s)) != 32 {
				return nil, nil, eventArgErr("Value must be array of MESSAGE_ID values", "messsage_id")
			}
			ids[s] = true
		}
		// An empty list leaves $listIds false in the source: the whole page goes.
		c.s.deleteOffline(c.auth, func(e *offlineEvent) bool { return inPage(e) && (len(ids) == 0 || ids[e.messageID]) })
		return true, nil, nil
	}
	if v, ok := p["id"]; ok {
		list, isArr := arrayParam(v)
		if !isArr {
			return nil, nil, eventArgErr("Value must be array of integers", "id")
		}
		ids := map[int]bool{}
		for _, x := range list {
			n := phpIntval(x)
			if n <= 0 {
				return nil, nil, eventArgErr("Value must be array of integers", "id")
			}
			ids[n] = true
		}
		c.s.deleteOffline(c.auth, func(e *offlineEvent) bool { return inPage(e) && (len(ids) == 0 || ids[e.id]) })
		return true, nil, nil
	}
	c.s.deleteOffline(c.auth, inPage)
	return true, nil, nil
}

// arrayParam reads a PHP array parameter as its values; ok false for a scalar.
func arrayParam(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case map[string]any:
		out := make([]any, 0, len(x))
		for _, k := range sortedKeys(x) {
			out = append(out, x[k])
		}
		return out, true
	}
	return nil, false
}

// methodEventOfflineError is Api\Event::eventOfflineError with EventOfflineTable::
// markError: the page's records with those MESSAGE_IDs become errors and leave the page;
// the other error-free records of the same MESSAGE_IDs are deleted.
func methodEventOfflineError(c *callCtx) (any, *navData, *restError) {
	if err := offlineAccess(c); err != nil {
		return nil, nil, err
	}
	p := lowerKeys(c.params)
	processID, err := processIDParam(p)
	if err != nil {
		return nil, nil, err
	}
	list, isArr := arrayParam(p["message_id"])
	if !isArr {
		return nil, nil, eventArgErr("Value must be array of MESSAGE_ID values", "message_id")
	}
	ids := map[string]bool{}
	for _, x := range list {
		s, _ := scalarString(x)
		ids[s] = true
	}
	if len(ids) == 0 {
		return true, nil, nil
	}
	c.s.deleteOffline(c.auth, func(e *offlineEvent) bool {
		return ids[e.messageID] && !e.failed && e.processID != processID
	})
	for _, e := range c.s.events.offline {
		if e.clientID == c.auth.clientID() && e.connector == c.auth.connector && ids[e.messageID] && !e.failed {
			e.failed, e.processID = true, ""
		}
	}
	return true, nil, nil
}

// methodEventOfflineList is Api\Event::eventOfflineList: the queue as it is, 50 a page.
func methodEventOfflineList(c *callCtx) (any, *navData, *restError) {
	if err := offlineAccess(c); err != nil {
		return nil, nil, err
	}
	p := lowerKeys(c.params)
	conds, err := sanitizeOfflineFilter(p["filter"], offlineListFields)
	if err != nil {
		return nil, nil, err
	}
	order, err := offlineOrder(p["order"], "ID", offlineListFields)
	if err != nil {
		return nil, nil, err
	}
	all := c.s.selectOffline(c.auth, conds, order)
	offset := max(c.start, 0)
	page := all[min(offset, len(all)):min(offset+ufListLimit, len(all))]
	rows := make([]any, 0, len(page))
	for _, e := range page {
		rows = append(rows, e.row(true))
	}
	nav := &navData{total: len(all)}
	if offset+len(page) < len(all) {
		nav.hasNext, nav.next = true, offset+len(page)
	}
	return rows, nav, nil
}
