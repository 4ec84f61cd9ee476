package bitrix24

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
)

// EventHandler is the http.Handler of an application's event URL: the install handler
// and the handler of every event bound with event.bind.
//
//   - ONAPPINSTALL: the access token is verified with app.info (the event itself cannot be
//     checked otherwise: nothing is stored yet), then the pair is saved under
//     {member_id, 0} and the application_token under [ApplicationTokenKey].
//   - Every later event must carry the stored application_token (compared in constant
//     time). ONAPPUPDATE may bring a new pair and a new application_token (after the
//     application's secret changed): they are saved once app.info vouches for the pair.
//   - The pair of ONAPPINSTALL and ONAPPUPDATE must be a portal administrator's
//     (user.admin), as Bitrix24 sends it: any user who can open the application holds
//     a genuine token of it and can read the application_token on its pages, so
//     neither proves an install on its own.
//   - ONAPPUNINSTALL: the portal is forgotten (its pair, application_token and the user
//     pairs the App saved).
//
// OnEvent then runs for each accepted event. Refusals answer 400 (malformed or
// incomplete body), 401 (wrong or missing application_token, refused access token) or
// 403 (a genuine token of another application or portal, or a portal that is not
// installed), and store nothing; a failure to reach the authorization server answers
// 503. A failing or panicking OnEvent answers 500.
type EventHandler struct {
	App *App
	// OnEvent, when set, is called for each accepted event, after the store is updated.
	OnEvent func(ctx context.Context, ev *Event) error
	// Logger receives a record for each refusal and failure (no secrets); nil discards.
	Logger *slog.Logger
}

// ServeHTTP handles one event POST.
func (h *EventHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ev, err := ParseEvent(r)
	if err != nil {
		h.refuse(ctx, w, http.StatusBadRequest, "", err)
		return
	}
	if h.App == nil {
		h.refuse(ctx, w, http.StatusInternalServerError, ev.Name, errors.New("bitrix24: EventHandler.App is nil"))
		return
	}
	if status, err := h.accept(ctx, ev); err != nil {
		h.refuse(ctx, w, status, ev.Name, err)
		return
	}
	if h.OnEvent != nil {
		if err := callSafely(func() error { return h.OnEvent(ctx, ev) }); err != nil {
			h.refuse(ctx, w, http.StatusInternalServerError, ev.Name, fmt.Errorf("bitrix24: OnEvent: %w", err))
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK\n"))
}

// accept checks ev and updates the store; it returns the refusal status with the error.
func (h *EventHandler) accept(ctx context.Context, ev *Event) (int, error) {
	auth := ev.Auth
	member := auth.Token.MemberID
	if auth.ApplicationToken == "" {
		return http.StatusBadRequest, invalid("auth[application_token]", "must not be empty")
	}
	if err := h.App.check(ctx, false); err != nil {
		return http.StatusInternalServerError, err
	}
	stored, err := h.loadAppToken(ctx, member)
	if err != nil {
		return http.StatusServiceUnavailable, err
	}
	matches := VerifyApplicationToken(auth.ApplicationToken, stored)
	name := strings.ToUpper(ev.Name)
	switch {
	case name == EventAppInstall && (auth.Token.AccessToken == "" || auth.Token.RefreshToken == ""):
		return http.StatusBadRequest, invalid("auth[access_token]", "ONAPPINSTALL must carry the pair")
	case (name == EventAppInstall || name == EventAppUpdate) && auth.Token.AccessToken != "":
		// The pair is checked with the authorization server, and must be a portal
		// administrator's (only administrators install and update applications): any
		// user who can open the app holds a genuine token of it, and the
		// application_token shows on its pages.
		info, err := h.App.verifyEventToken(ctx, ev)
		if err != nil {
			return statusOf(err), err
		}
		admin, err := h.App.isAdmin(ctx, info, auth.Token.AccessToken)
		if err != nil {
			return statusOf(err), err
		}
		if !admin {
			return http.StatusForbidden, fmt.Errorf("%w: %s carries the token of a user who is not a portal administrator", ErrNotVerified, name)
		}
		return h.save(ctx, ev)
	case stored == "":
		return http.StatusForbidden, fmt.Errorf("%w: the application is not installed on this portal (no application_token stored)", ErrNotVerified)
	case !matches:
		return http.StatusUnauthorized, fmt.Errorf("%w: application_token does not match", ErrNotVerified)
	case name == EventAppUninstall:
		if err := h.App.forget(ctx, member); err != nil {
			return http.StatusInternalServerError, err
		}
	}
	return 0, nil
}

// save stores the install pair and the application_token of ev.
func (h *EventHandler) save(ctx context.Context, ev *Event) (int, error) {
	st := h.App.store()
	auth := ev.Auth
	tok := auth.Token
	if tok.ClientEndpoint == "" {
		tok.ClientEndpoint = "https://" + auth.Domain + "/rest/"
	}
	if tok.RefreshToken != "" {
		if err := st.Save(ctx, TokenKey{MemberID: tok.MemberID}, tok); err != nil {
			return http.StatusInternalServerError, fmt.Errorf("bitrix24: saving the install pair: %w", err)
		}
	}
	appTok := Token{AccessToken: auth.ApplicationToken, MemberID: tok.MemberID}
	if err := st.Save(ctx, ApplicationTokenKey(tok.MemberID), appTok); err != nil {
		return http.StatusInternalServerError, fmt.Errorf("bitrix24: saving the application_token: %w", err)
	}
	return 0, nil
}

// loadAppToken loads the application_token saved at install; "" when none is stored.
func (h *EventHandler) loadAppToken(ctx context.Context, member string) (string, error) {
	t, err := h.App.store().Load(ctx, ApplicationTokenKey(member))
	switch {
	case errors.Is(err, ErrTokenNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("bitrix24: loading the application_token: %w", err)
	}
	return t.AccessToken, nil
}

// statusOf maps a verification failure to the HTTP status of the refusal.
func statusOf(err error) int {
	var apiErr *APIError
	switch {
	case errors.Is(err, ErrValidation):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotVerified) && errors.As(err, &apiErr):
		return http.StatusUnauthorized // the authorization server refused the token
	case errors.Is(err, errNoAuthID):
		return http.StatusUnauthorized
	case errors.Is(err, ErrNotVerified):
		return http.StatusForbidden
	}
	return http.StatusServiceUnavailable
}

func (h *EventHandler) refuse(ctx context.Context, w http.ResponseWriter, status int, event string, err error) {
	logRefusal(ctx, h.Logger, "bitrix24 event refused", status, slog.String("event", event), err)
	http.Error(w, http.StatusText(status), status)
}

func logRefusal(ctx context.Context, l *slog.Logger, msg string, status int, attr slog.Attr, err error) {
	if l == nil {
		return
	}
	// Errors of this package carry no secret: they never quote tokens.
	l.LogAttrs(ctx, slog.LevelWarn, msg, slog.Int("status", status), attr, slog.String("error", err.Error()))
}

// callSafely runs fn, turning a panic into an error.
func callSafely(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bitrix24: callback panicked: %v", p)
		}
	}()
	return fn()
}

// FieldRequest is what a custom field type's render function gets.
type FieldRequest struct {
	Request *AppRequest         // the verified request
	Field   *UserFieldPlacement // the field: mode, entity, values
	// Client acts as the user who opened the page (from [App.ClientFor]); his pair is
	// saved in the App's store.
	Client *Client
}

// FieldRenderFunc renders the body of a field type's page: HTML that goes inside
// <body>. Inside it, call b24field.setValue(v) (a string, or a list of strings for a
// multiple field) to change the field's value; b24field.value and b24field.values hold
// the current ones, and b24field.mode is "view" or "edit".
type FieldRenderFunc func(ctx context.Context, f *FieldRequest) (template.HTML, error)

// FieldTypeHandler is the http.Handler behind a custom field type's HANDLER URL
// (userfieldtype.add). For each request it parses the POST ([ParseAppRequest],
// [AppRequest.UserField]), verifies it and gets a client acting as the user
// ([App.ClientFor]), then calls View or Edit and answers a page that the portal can
// frame, with BX24.js and a small script defining b24field.setValue, which calls
// BX24.placement.call('setValue', ...).
//
// Refusals answer 400 (not a USERFIELD_TYPE POST, malformed options), 401 (no or
// refused token) or 403 (a genuine token of another application, portal or domain);
// 503 when the authorization server cannot be reached; 500 when View or Edit fails or
// panics. The page is framed only by the verified portal (CSP frame-ancestors).
type FieldTypeHandler struct {
	App  *App
	View FieldRenderFunc // MODE=view; nil shows the values as text
	Edit FieldRenderFunc // MODE=edit; nil shows the values as text (no editing)
	// Logger receives a record for each refusal and failure (no secrets); nil discards.
	Logger *slog.Logger
	// ClientOptions apply to the client of each request, after App.Options.
	ClientOptions []Option
}

// bx24Script is the official library that talks to the portal frame.
const bx24Script = "https://api.bitrix24.com/api/v1/"

var fieldPage = template.Must(template.New("field").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="{{.Script}}"></script>
<script>
window.b24field = (function () {
  var state = {{.State}};
  function send(value) {
    var v = state.multiple
      ? (Array.isArray(value) ? value : [value]).map(String)
      : (Array.isArray(value) ? String(value[0] === undefined ? "" : value[0]) : String(value));
    state.values = state.multiple ? v : (v === "" ? [] : [v]);
    if (window.BX24) {
      BX24.init(function () { BX24.placement.call('setValue', v, function () {}); });
    }
  }
  return {
    mode: state.mode,
    multiple: state.multiple,
    get value() { return state.values.length ? state.values[0] : ""; },
    get values() { return state.values.slice(); },
    setValue: send
  };
})();
if (window.BX24) { BX24.init(function () { BX24.fitWindow(); }); }
</script>
</head>
<body>
{{.Body}}
</body>
</html>
`))

type fieldState struct {
	Mode     string   `json:"mode"`
	Multiple bool     `json:"multiple"`
	Values   []string `json:"values"`
}

// ServeHTTP handles one USERFIELD_TYPE POST.
func (h *FieldTypeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, err := ParseAppRequest(r)
	if err != nil {
		h.refuse(ctx, w, http.StatusBadRequest, err)
		return
	}
	field, err := req.UserField()
	if err != nil {
		h.refuse(ctx, w, http.StatusBadRequest, err)
		return
	}
	if h.App == nil {
		h.refuse(ctx, w, http.StatusInternalServerError, errors.New("bitrix24: FieldTypeHandler.App is nil"))
		return
	}
	client, err := h.App.ClientFor(ctx, req, h.ClientOptions...)
	if err != nil {
		h.refuse(ctx, w, statusOf(err), err)
		return
	}
	render := h.View
	if field.Mode == FieldModeEdit {
		render = h.Edit
	}
	if render == nil {
		render = plainValues
	}
	var body template.HTML
	err = callSafely(func() error {
		var rerr error
		body, rerr = render(ctx, &FieldRequest{Request: req, Field: field, Client: client})
		return rerr
	})
	if err != nil {
		h.refuse(ctx, w, http.StatusInternalServerError, fmt.Errorf("bitrix24: rendering the %s page: %w", field.Mode, err))
		return
	}
	values := field.Values
	if values == nil {
		values = []string{}
	}
	state, err := json.Marshal(fieldState{Mode: field.Mode, Multiple: field.Multiple, Values: values})
	if err != nil {
		h.refuse(ctx, w, http.StatusInternalServerError, err)
		return
	}
	var page strings.Builder
	err = fieldPage.Execute(&page, map[string]any{
		"Lang":   req.Lang,
		"Script": template.URL(bx24Script),
		"State":  template.JS(state), // json.Marshal escapes <, > and &
		"Body":   body,
	})
	if err != nil {
		h.refuse(ctx, w, http.StatusInternalServerError, err)
		return
	}
	hdr := w.Header()
	// The portal frames this page: no X-Frame-Options, and only the verified portal as
	// an ancestor.
	hdr.Del("X-Frame-Options")
	hdr.Set("Content-Security-Policy", "frame-ancestors "+req.PortalURL())
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(page.String()))
}

// plainValues shows the values, escaped, one per line.
func plainValues(_ context.Context, f *FieldRequest) (template.HTML, error) {
	var b strings.Builder
	for i, v := range f.Field.Values {
		if i > 0 {
			b.WriteString("<br>")
		}
		b.WriteString(template.HTMLEscapeString(v))
	}
	return template.HTML(b.String()), nil
}

func (h *FieldTypeHandler) refuse(ctx context.Context, w http.ResponseWriter, status int, err error) {
	logRefusal(ctx, h.Logger, "bitrix24 field type request refused", status, slog.String("handler", "field type"), err)
	http.Error(w, http.StatusText(status), status)
}
