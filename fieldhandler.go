package bitrix24

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
)

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
	App *App
	// View renders MODE=view and Edit MODE=edit ([PlainValues] shows the values as
	// text). A request whose mode has no render function answers 500 and logs an error.
	View FieldRenderFunc
	Edit FieldRenderFunc
	// Logger receives a record for each refusal and failure (no secrets); nil discards
	// them, but a misconfiguration (no App, no View or Edit) is logged at Error level
	// through slog.Default().
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
	defer answerPanic(w, func(err error) { h.refuse(ctx, w, http.StatusInternalServerError, err) })
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
	render := h.View
	if field.Mode == FieldModeEdit {
		render = h.Edit
	}
	switch {
	case h.App == nil:
		h.refuse(ctx, w, http.StatusInternalServerError, misconfigured("FieldTypeHandler.App is nil"))
		return
	case render == nil:
		h.refuse(ctx, w, http.StatusInternalServerError, misconfigured("FieldTypeHandler has no render function for mode "+field.Mode+
			" (set View and Edit; PlainValues shows the values as text)"))
		return
	}
	secrets := []string{req.Token.AccessToken, req.Token.RefreshToken, req.ApplicationToken, h.App.ClientSecret}
	if err := h.App.check(ctx, true); err != nil {
		h.refuse(ctx, w, http.StatusInternalServerError, fmt.Errorf("%w: %w", errMisconfigured, err))
		return
	}
	client, err := h.App.ClientFor(ctx, req, h.ClientOptions...)
	if err != nil {
		h.refuse(ctx, w, statusOf(err), scrubbed(err, secrets...))
		return
	}
	var body template.HTML
	err = callSafely(func() error {
		var rerr error
		body, rerr = render(ctx, &FieldRequest{Request: req, Field: field, Client: client})
		return rerr
	})
	if err != nil {
		h.refuse(ctx, w, http.StatusInternalServerError, scrubbed(fmt.Errorf("bitrix24: rendering the %s page: %w", field.Mode, err), secrets...))
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

// PlainValues is a [FieldRenderFunc] that shows the values as text, escaped, one per
// line: a View for fields that need nothing more.
func PlainValues(_ context.Context, f *FieldRequest) (template.HTML, error) {
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
