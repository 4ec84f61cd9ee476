package bitrix24

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/b24go/bitrix24/internal/redact"
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
//   - A stored pair is never replaced by an older one: an install or update whose pair
//     is the stored one, or one the App stored before (a replay), or expires in an
//     earlier second than it (by app.info's expiry, else the event's expires, else ts
//     plus expires_in), answers 200 and changes nothing.
//   - The client endpoint and the expiry stored with the pair are those app.info reports; the server
//     endpoint is the event's auth[server_endpoint] only when the App trusts it
//     ([App.AuthServers]); an event naming another server is refused (403).
//   - ONAPPUNINSTALL: the portal revokes the application's tokens before it sends it, so
//     the portal is forgotten (its pair, application_token and the user pairs the App
//     saved) only once the portal or the authorization server refuses the stored pair.
//     While the pair works the event is refused (403): any user of the application can
//     read the application_token and forge one.
//
// OnEvent then runs for each accepted event (not for a duplicate or an older install or
// update). Refusals answer 400 (malformed or incomplete body), 401 (wrong or missing
// application_token, refused access token) or 403 (a genuine token of another
// application or portal, a portal that is not installed, an uninstall the stored pair
// contradicts), and store nothing; a failure to reach the authorization server or the
// portal answers 503. A failing or panicking OnEvent (or Store) answers 500, and so
// does a nil App or one without its credentials (logged at Error level).
type EventHandler struct {
	App *App
	// OnEvent, when set, is called for each accepted event, after the store is updated.
	OnEvent func(ctx context.Context, ev *Event) error
	// Logger receives a record for each refusal and failure (no secrets); nil discards
	// them, but a nil App is logged at Error level through slog.Default().
	Logger *slog.Logger
}

// ServeHTTP handles one event POST.
func (h *EventHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	defer answerPanic(w, func(err error) {
		h.refuse(ctx, w, http.StatusInternalServerError, "", err)
	})
	if h.App == nil {
		// A misconfiguration, not a refusal: say so even without a Logger.
		h.refuse(ctx, w, http.StatusInternalServerError, "", misconfigured("EventHandler.App is nil"))
		return
	}
	ev, err := ParseEvent(r)
	if err != nil {
		h.refuse(ctx, w, http.StatusBadRequest, "", err)
		return
	}
	// The event's secrets never reach a log record, even when OnEvent's error or panic
	// quotes them.
	secrets := []string{ev.Auth.ApplicationToken, ev.Auth.Token.AccessToken, ev.Auth.Token.RefreshToken, h.App.ClientSecret}
	status, run, err := h.accept(ctx, ev)
	if err != nil {
		h.refuse(ctx, w, status, ev.Name, scrubbed(err, secrets...))
		return
	}
	if run && h.OnEvent != nil {
		if err := callSafely(func() error { return h.OnEvent(ctx, ev) }); err != nil {
			h.refuse(ctx, w, http.StatusInternalServerError, ev.Name, scrubbed(fmt.Errorf("bitrix24: OnEvent: %w", err), secrets...))
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK\n"))
}

// accept checks ev and updates the store. It returns the refusal status with the error,
// and whether OnEvent runs (not for a duplicate or an older install or update).
func (h *EventHandler) accept(ctx context.Context, ev *Event) (int, bool, error) {
	auth := ev.Auth
	member := auth.Token.MemberID
	if auth.ApplicationToken == "" {
		return http.StatusBadRequest, false, invalid("auth[application_token]", "must not be empty")
	}
	name := strings.ToUpper(ev.Name)
	// Install, update and uninstall call the portal and the token endpoint: the secret too.
	lifecycle := name == EventAppInstall || name == EventAppUpdate || name == EventAppUninstall
	if err := h.App.check(ctx, lifecycle); err != nil {
		return http.StatusInternalServerError, false, fmt.Errorf("%w: %w", errMisconfigured, err)
	}
	server, err := h.App.serverFor(auth.Token.ServerEndpoint)
	if err != nil {
		return http.StatusForbidden, false, err
	}
	stored, err := h.loadAppToken(ctx, member)
	if err != nil {
		return http.StatusServiceUnavailable, false, err
	}
	matches := VerifyApplicationToken(auth.ApplicationToken, stored)
	switch {
	case name == EventAppInstall && (auth.Token.AccessToken == "" || auth.Token.RefreshToken == ""):
		return http.StatusBadRequest, false, invalid("auth[access_token]", "ONAPPINSTALL must carry the pair")
	case (name == EventAppInstall || name == EventAppUpdate) && auth.Token.AccessToken != "":
		// The pair is checked with the authorization server, and must be a portal
		// administrator's (only administrators install and update applications): any
		// user who can open the app holds a genuine token of it, and the
		// application_token shows on its pages.
		info, err := h.App.verifyEventToken(ctx, server, ev)
		if err != nil {
			return statusOf(err), false, err
		}
		admin, err := h.App.isAdmin(ctx, info, auth.Token.AccessToken)
		if err != nil {
			return statusOf(err), false, err
		}
		if !admin {
			return http.StatusForbidden, false, fmt.Errorf("%w: %s carries the token of a user who is not a portal administrator", ErrNotVerified, name)
		}
		return h.save(ctx, ev, info, server)
	case stored == "":
		return http.StatusForbidden, false, fmt.Errorf("%w: the application is not installed on this portal (no application_token stored)", ErrNotVerified)
	case !matches:
		return http.StatusUnauthorized, false, fmt.Errorf("%w: application_token does not match", ErrNotVerified)
	case name == EventAppUninstall:
		if status, err := h.App.uninstall(ctx, member); err != nil {
			return status, false, err
		}
	}
	return 0, true, nil
}

// save stores the install pair and the application_token of ev, unless the store holds
// the same pair or a newer one (a duplicate delivery or a replay: nothing changes, and
// OnEvent does not run). The client endpoint is the one app.info reports, never the
// event's; the server endpoint the trusted server that vouched for the pair.
func (h *EventHandler) save(ctx context.Context, ev *Event, info appInfo, server string) (int, bool, error) {
	st := h.App.store()
	auth := ev.Auth
	tok := auth.Token
	tok.ClientEndpoint = info.ClientEndpoint
	if tok.ClientEndpoint == "" {
		tok.ClientEndpoint = "https://" + info.Domain + "/rest/"
	}
	tok.ServerEndpoint = server
	if !info.Expires.IsZero() {
		// The event's expires_in can be forged; app.info's expiry, on our clock, cannot.
		tok.Expiry = info.Expires.Add(info.Skew)
	}
	if info.UserID > 0 {
		tok.UserID = info.UserID
	}
	key := TokenKey{MemberID: tok.MemberID}
	stored, err := st.Load(ctx, key)
	switch {
	case err != nil && !errors.Is(err, ErrTokenNotFound):
		return http.StatusServiceUnavailable, false, fmt.Errorf("bitrix24: loading the install pair: %w", err)
	case h.App.olderThanStored(stored, ev, info):
		return 0, false, nil // nor is its application_token older than the stored one
	}
	if tok.RefreshToken != "" {
		mine, err := h.App.claim(ctx, tok.AccessToken)
		switch {
		case err != nil:
			return http.StatusServiceUnavailable, false, err
		case !mine:
			return 0, false, nil // a duplicate delivery stored it
		}
		err = st.Save(ctx, key, tok)
		h.App.finish(tok.AccessToken, err == nil)
		if err != nil {
			return http.StatusInternalServerError, false, fmt.Errorf("bitrix24: saving the install pair: %w", err)
		}
	}
	appTok := Token{AccessToken: auth.ApplicationToken, MemberID: tok.MemberID}
	if err := st.Save(ctx, ApplicationTokenKey(tok.MemberID), appTok); err != nil {
		return http.StatusInternalServerError, false, fmt.Errorf("bitrix24: saving the application_token: %w", err)
	}
	return 0, true, nil
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

// errMisconfigured marks a handler that cannot work as configured.
var errMisconfigured = errors.New("bitrix24: handler misconfigured")

func misconfigured(what string) error { return fmt.Errorf("%w: %s", errMisconfigured, what) }

// logRefusal logs a refusal at Warn level through l (nothing when l is nil), and a
// misconfiguration at Error level through l or, when l is nil, slog.Default(): a
// handler that can never work must not fail silently.
func logRefusal(ctx context.Context, l *slog.Logger, msg string, status int, attr slog.Attr, err error) {
	level := slog.LevelWarn
	if errors.Is(err, errMisconfigured) {
		level = slog.LevelError
		if l == nil {
			l = slog.Default()
		}
	}
	if l == nil {
		return
	}
	// Errors of this package carry no secret: they never quote tokens.
	l.LogAttrs(ctx, level, msg, slog.Int("status", status), attr, slog.String("error", err.Error()))
}

// scrubbed is err without the given secrets (nor any the patterns of the redaction
// recognise) anywhere in its chain.
func scrubbed(err error, secrets ...string) error {
	set := &redact.Secrets{}
	set.AddPinned(secrets...)
	return cleanError(set, err)
}

// answerPanic, deferred by a handler, turns a panic of user code (a Store, a Logger's
// handler) into a 500 answer, as callSafely does for callbacks; net/http's own abort
// goes on.
func answerPanic(w http.ResponseWriter, refuse func(error)) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	err := scrubbed(fmt.Errorf("bitrix24: handler panicked: %v", p))
	defer func() {
		if recover() != nil {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}
	}()
	refuse(err)
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
