package bitrix24test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Event bindings: event.bind, event.unbind and event.get, after the rest module's
// Api\Event (eventBind, eventUnbind, eventGet) and HandlerHelper::checkCallback.
//
//   - The events a binding may name are those of the caller's scopes plus the global
//     ones: ONAPPINSTALL, ONAPPUPDATE, ONAPPUNINSTALL, ONAPPPAYMENT, ONAPPTEST,
//     ONAPPMETHODCONFIRM, ONSUBSCRIPTIONRENEW and ONOFFLINEEVENT (never offline); with
//     "crm", ONCRM{LEAD,DEAL,CONTACT,COMPANY,DYNAMICITEM}{ADD,UPDATE,DELETE}. Anything
//     else is 400 ERROR_EVENT_NOT_FOUND "Event not found". There is no event for
//     user.option.set on a real portal, so the fake has none either.
//   - Only offline bindings cause anything: crm.item.add/update/delete keep offline
//     events for them (methods_eventoffline.go). Online handlers are stored and listed,
//     not called.
//   - A second identical binding is 400 ERROR_CORE "Unable to set event handler: Handler
//     already binded" (the table's unique key: application, event, handler, user,
//     connector).

// eventBinding is a b_rest_event row.
type eventBinding struct {
	id        int
	clientID  string
	event     string // upper-cased
	handler   string // "" for offline
	userID    int
	connector string
}

func (b *eventBinding) offline() bool { return b.handler == "" }

// eventStore holds the bindings and the offline queue (under Server.mu).
type eventStore struct {
	bindings  []*eventBinding
	lastBind  int
	offline   []*offlineEvent // methods_eventoffline.go
	lastEvent int
	// noExtended switches the rest_offline_extended feature off (SetOfflineExtended).
	noExtended bool
}

func (st eventStore) clone() eventStore {
	out := st
	out.bindings = make([]*eventBinding, len(st.bindings))
	for i, b := range st.bindings {
		nb := *b
		out.bindings[i] = &nb
	}
	out.offline = make([]*offlineEvent, len(st.offline))
	for i, e := range st.offline {
		ne := *e
		ne.data, ne.additional = deepCopy(e.data), deepCopy(e.additional)
		out.offline[i] = &ne
	}
	return out
}

// eventCatalog lists the events the fake knows, by the scope that offers them ("" is
// global). true marks events that cannot be bound offline (disableOffline).
var eventCatalog = map[string]map[string]bool{
	"": {
		"ONAPPINSTALL": false, "ONAPPUPDATE": false, "ONAPPUNINSTALL": false, "ONAPPPAYMENT": false,
		"ONAPPTEST": false, "ONAPPMETHODCONFIRM": false, "ONSUBSCRIPTIONRENEW": false, "ONOFFLINEEVENT": true,
	},
	scopeCRM: crmEventNames(),
}

func crmEventNames() map[string]bool {
	m := map[string]bool{}
	for _, ent := range []string{"LEAD", "DEAL", "CONTACT", "COMPANY", "DYNAMICITEM"} {
		for _, op := range []string{"ADD", "UPDATE", "DELETE"} {
			m["ONCRM"+ent+op] = false
		}
	}
	return m
}

// lookupEvent finds an event in the caller's scopes; ok false: ERROR_EVENT_NOT_FOUND.
func lookupEvent(a *authInfo, name string) (disableOffline, ok bool) {
	for _, sc := range append([]string{""}, a.scopes()...) {
		if d, found := eventCatalog[sc][name]; found {
			return d, true
		}
	}
	return false, false
}

func authTypeErr() *restError {
	return newErr(http.StatusForbidden, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method")
}

func eventArgErr(desc, arg string) *restError {
	return &restError{status: http.StatusBadRequest, code: "ERROR_ARGUMENT", description: desc, argument: arg}
}

// eventType reads EVENT_TYPE: "online" by default, else online|offline.
func eventType(p map[string]any) (string, *restError) {
	s, _ := scalarString(p["EVENT_TYPE"])
	switch t := strings.ToLower(s); t {
	case "":
		return "online", nil
	case "online", "offline":
		return t, nil
	}
	return "", eventArgErr("Value must be one of {online|offline}", "EVENT_TYPE")
}

// methodEventBind is Api\Event::eventBind.
func methodEventBind(c *callCtx) (any, *navData, *restError) {
	if c.auth.kind != "oauth" {
		return nil, nil, authTypeErr()
	}
	p := upperKeys(c.params)
	name, _ := scalarString(p["EVENT"])
	name = strings.ToUpper(name)
	user := phpIntval(p["AUTH_TYPE"])
	handler, _ := scalarString(p["HANDLER"])
	admin := c.s.isAdmin(c.auth)
	if user > 0 {
		if !admin && user != c.auth.userID {
			return nil, nil, accessDenied("Event binding with AUTH_TYPE requires administrator access rights")
		}
	} else if !admin {
		user = c.auth.userID
	}
	if name == "" {
		return nil, nil, argNull("EVENT")
	}
	typ, err := eventType(p)
	if err != nil {
		return nil, nil, err
	}
	if typ == "offline" {
		if !admin {
			return nil, nil, accessDenied("Offline events binding requires administrator access rights")
		}
		handler, user = "", 0
	} else if handler == "" {
		return nil, nil, argNull("HANDLER")
	}
	if handler != "" {
		if err := checkCallback(handler); err != nil {
			return nil, nil, err
		}
	}
	disableOffline, ok := lookupEvent(c.auth, name)
	if !ok {
		return nil, nil, newErr(http.StatusBadRequest, "ERROR_EVENT_NOT_FOUND", "Event not found")
	}
	if handler == "" && disableOffline {
		return nil, nil, newErr(http.StatusBadRequest, "ERROR_ARGUMENT", "Offline event cannot be registered for this event.")
	}
	st := &c.s.events
	b := &eventBinding{clientID: c.auth.clientID(), event: name, handler: handler, userID: user, connector: c.auth.connector}
	for _, o := range st.bindings {
		if o.clientID == b.clientID && o.event == b.event && o.handler == b.handler && o.userID == b.userID && o.connector == b.connector {
			return nil, nil, newErr(http.StatusBadRequest, "ERROR_CORE", "Unable to set event handler: Handler already binded")
		}
	}
	st.lastBind++
	b.id = st.lastBind
	st.bindings = append(st.bindings, b)
	return true, nil, nil
}

// methodEventUnbind is Api\Event::eventUnbind: result {"count": n}.
func methodEventUnbind(c *callCtx) (any, *navData, *restError) {
	if c.auth.kind != "oauth" {
		return nil, nil, authTypeErr()
	}
	p := upperKeys(c.params)
	name, _ := scalarString(p["EVENT"])
	name = strings.ToUpper(name)
	handler, _ := scalarString(p["HANDLER"])
	admin := c.s.isAdmin(c.auth)
	if name == "" {
		return nil, nil, argNull("EVENT")
	}
	typ, err := eventType(p)
	if err != nil {
		return nil, nil, err
	}
	userFilter := -1
	if typ == "offline" {
		if !admin {
			return nil, nil, accessDenied("Offline events unbinding requires administrator access rights")
		}
		handler = ""
	} else {
		if handler == "" {
			return nil, nil, argNull("HANDLER")
		}
		if v, set := p["AUTH_TYPE"]; set && v != nil {
			if !admin && phpIntval(v) != c.auth.userID {
				return nil, nil, accessDenied("Event unbinding with AUTH_TYPE requires administrator access rights")
			}
			userFilter = phpIntval(v)
		} else if !admin {
			userFilter = c.auth.userID
		}
	}
	st := &c.s.events
	n := 0
	st.bindings = slices.DeleteFunc(st.bindings, func(b *eventBinding) bool {
		match := b.clientID == c.auth.clientID() && b.event == name && b.handler == handler &&
			(typ != "offline" || b.connector == c.auth.connector) &&
			(userFilter < 0 || b.userID == userFilter)
		if match {
			n++
		}
		return match
	})
	res := newOmap()
	res.set("count", n)
	return res, nil, nil
}

// methodEventGet is Api\Event::eventGet.
func methodEventGet(c *callCtx) (any, *navData, *restError) {
	if c.auth.kind != "oauth" {
		return nil, nil, authTypeErr()
	}
	admin := c.s.isAdmin(c.auth)
	out := []any{}
	for _, b := range c.s.events.bindings {
		if b.clientID != c.auth.clientID() || !admin && b.userID != c.auth.userID {
			continue
		}
		row := newOmap()
		row.set("event", b.event)
		if b.offline() {
			row.set("connector_id", b.connector)
			row.set("offline", 1)
		} else {
			row.set("handler", b.handler)
			row.set("auth_type", strconv.Itoa(b.userID))
			row.set("offline", 0)
		}
		out = append(out, row)
	}
	return out, nil, nil
}
