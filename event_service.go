package bitrix24

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/b24go/bitrix24/internal/envelope"
)

// EventService binds the application's event handlers (event.bind, event.unbind,
// event.get) and reads the events the portal keeps for it ([EventService.Offline]). It
// needs an OAuth client: the portal answers these methods with WRONG_AUTH_TYPE through a
// webhook. Offline bindings, and online ones for another user ([EventBinding].AuthType),
// need an administrator (ACCESS_DENIED otherwise).
type EventService service

// EventBinding is one handler of an event: an online one (the portal POSTs the event to
// Handler) or an offline one (the portal keeps the event for [EventService.Offline]).
type EventBinding struct {
	Event     string // "ONCRMDEALADD"; the portal upper-cases it
	Handler   string // the handler URL; empty with Offline
	Offline   bool   // event_type=offline: kept on the portal for event.offline.get
	AuthType  int    // the user whose rights the handler runs with (0: the installer)
	Connector string // offline only: the auth_connector whose queue receives the events
}

// maxEventNameLen is the width of the portal's EVENT_NAME column.
const maxEventNameLen = 255

// eventOffline is the one event that cannot be bound offline (its description sets
// disableOffline): it announces offline events to an online handler.
const eventOffline = "ONOFFLINEEVENT"

// validate applies the rules the server checks (rest module, Api\Event::eventBind and
// HandlerHelper::checkCallback), before anything is sent.
func (b EventBinding) validate(op string) error {
	if err := validateEventName(op+".Event", b.Event); err != nil {
		return err
	}
	if b.AuthType < 0 {
		return invalid(op+".AuthType", "must be a user id (> 0) or 0")
	}
	if b.Offline {
		switch {
		case b.Handler != "":
			return invalid(op+".Handler", "must be empty for an offline binding: the portal keeps the events instead of posting them")
		case b.AuthType != 0:
			return invalid(op+".AuthType", "must be 0 for an offline binding (the portal ignores it)")
		case strings.EqualFold(b.Event, eventOffline):
			return invalid(op+".Event", "ONOFFLINEEVENT cannot be bound offline (ERROR_ARGUMENT): bind it to a handler URL")
		}
		if b.Connector != "" {
			return checkConnector(op+".Connector", b.Connector)
		}
		return nil
	}
	if b.Connector != "" {
		return invalid(op+".Connector", "is for offline bindings only")
	}
	return validateHandlerURL(op+".Handler", b.Handler)
}

// validateEventName keeps event names to what the portal's event tables hold: letters,
// digits and '_' ("ONCRMDEALADD", "ONCRMDYNAMICITEMADD_128").
func validateEventName(field, name string) error {
	if name == "" {
		return invalid(field, "is required (ERROR_ARGUMENT: Argument 'EVENT' is null or empty)")
	}
	if len(name) > maxEventNameLen {
		return invalid(field, fmt.Sprintf("must be at most %d characters", maxEventNameLen))
	}
	for i := 0; i < len(name); i++ {
		if ch := name[i]; !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_') {
			return invalid(field, fmt.Sprintf("%q may contain only letters, digits and '_'", name))
		}
	}
	return nil
}

// params are event.bind's and event.unbind's parameters. The connector is not among
// them: it travels as auth_connector with the credentials (see call).
func (b EventBinding) params(unbind bool) map[string]any {
	p := map[string]any{"event": b.Event}
	if b.Offline {
		p["event_type"] = "offline"
		return p
	}
	p["handler"] = b.Handler
	if b.AuthType > 0 || unbind {
		// Unbind names the exact binding: auth_type 0 removes only the handlers bound
		// without one, where no auth_type at all would remove every user's.
		p["auth_type"] = b.AuthType
	}
	return p
}

// Bind registers b (event.bind). The portal answers ERROR_EVENT_NOT_FOUND
// ([ErrEventNotFound]) for an event it does not know or that the application's scope
// does not cover, ERROR_WRONG_HANDLER_URL ([ErrWrongHandlerURL]) for a handler it
// refuses, and ERROR_CORE for a binding that already exists. The same rules are checked
// first on this side ([ErrValidation]). Bind is not retried after an ambiguous failure.
func (s *EventService) Bind(ctx context.Context, b EventBinding) error {
	return s.call(ctx, "event.bind", b, callOptions{})
}

// call sends event.bind or event.unbind for b once b is valid. The portal reads an
// offline binding's connector from the request's authorization data, so it goes as
// auth_connector beside the token, never inside a batch.
func (s *EventService) call(ctx context.Context, method string, b EventBinding, co callOptions) error {
	c, err := clientOf((*service)(s))
	if err != nil {
		return err
	}
	if err := b.validate("EventBinding"); err != nil {
		return err
	}
	co.authConnector = b.Connector
	_, err = c.do(ctx, method, b.params(method == "event.unbind"), co)
	return err
}

// Unbind removes b (event.unbind): the binding with exactly b's event, handler and
// AuthType, or, with Offline, the offline binding of b's Connector. Removing a binding
// that does not exist is not an error (the portal answers a count of 0).
func (s *EventService) Unbind(ctx context.Context, b EventBinding) error {
	// Removing twice removes nothing the second time: safe to repeat.
	return s.call(ctx, "event.unbind", b, callOptions{idempotent: true})
}

// eventRow is one element of event.get's answer: online bindings have handler and
// auth_type (a string), offline ones connector_id.
type eventRow struct {
	Event       string          `json:"event"`
	Handler     string          `json:"handler"`
	AuthType    json.RawMessage `json:"auth_type"`
	Offline     json.RawMessage `json:"offline"`
	ConnectorID string          `json:"connector_id"`
}

// Bindings lists the application's bindings (event.get); an administrator sees every
// user's, anyone else their own. Event names come upper-cased, as the portal stores them.
func (s *EventService) Bindings(ctx context.Context) ([]EventBinding, error) {
	c, err := clientOf((*service)(s))
	if err != nil {
		return nil, err
	}
	var rows []eventRow
	if err := c.Call(ctx, "event.get", nil, &rows); err != nil {
		return nil, err
	}
	out := make([]EventBinding, 0, len(rows))
	for _, r := range rows {
		b := EventBinding{Event: r.Event, Handler: r.Handler}
		if n, ok := envelope.Int(r.Offline); ok && n != 0 {
			b.Offline, b.Handler, b.Connector = true, "", r.ConnectorID
		} else if n, ok := envelope.Int(r.AuthType); ok {
			b.AuthType = n
		}
		out = append(out, b)
	}
	return out, nil
}
