// Package starrating is the application of the fieldtype-app example: a "star rating"
// custom field type for CRM records. It lives in a package of its own so that tests
// (the browser tests of the browsertest module) can serve the very handlers the example
// serves.
//
//   - /install is its event endpoint: ONAPPINSTALL stores the portal's pair and
//     registers the field type (userfieldtype.add); ONAPPUNINSTALL forgets the portal.
//   - /field is the field type's HANDLER: view shows the stars, edit lets the user pick
//     a rating (BX24.placement.call('setValue', ...)) and proposes, on a new record, the
//     rating this user gave last. Each user's last rating is kept per user with
//     user.option.set, through a client acting as that user (App.ClientFor).
package starrating

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/b24go/bitrix24"
)

// FieldTypeID is the USER_TYPE_ID of the star rating.
const FieldTypeID = "starrating"

// LastRatingKey is the user option holding a user's last rating.
const LastRatingKey = "lastRating"

// App is the application: its bitrix24.App and where it is reachable.
type App struct {
	app    *bitrix24.App
	appURL string    // public base URL, for the field type's HANDLER
	out    io.Writer // where each step is reported
}

// New returns the application of app, reachable at appURL (its public base URL), which
// reports each step to out.
func New(app *bitrix24.App, appURL string, out io.Writer) *App {
	return &App{app: app, appURL: appURL, out: out}
}

func (a *App) say(format string, args ...any) {
	fmt.Fprintf(a.out, "   app: "+format+"\n", args...)
}

// Routes serves the event endpoint (POST /install) and the field type's handler (POST
// /field).
func (a *App) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /install", &bitrix24.EventHandler{
		App:     a.app,
		OnEvent: a.onEvent,
		Logger:  slog.New(slog.NewTextHandler(a.out, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	mux.Handle("POST /field", &bitrix24.FieldTypeHandler{
		App:    a.app,
		View:   a.view,
		Edit:   a.edit,
		Logger: slog.New(slog.NewTextHandler(a.out, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	return mux
}

// onEvent runs after EventHandler verified and stored what the event brings.
func (a *App) onEvent(ctx context.Context, ev *bitrix24.Event) error {
	member := ev.Auth.Token.MemberID
	switch strings.ToUpper(ev.Name) {
	case bitrix24.EventAppInstall:
		a.say("install: stored the pair and the application_token of portal %s", ev.Auth.Domain)
		c, err := a.app.Client(ctx, bitrix24.TokenKey{MemberID: member})
		if err != nil {
			return err
		}
		t := bitrix24.UserFieldType{
			UserTypeID:  FieldTypeID,
			Handler:     a.appURL + "/field",
			Title:       "Star rating",
			Description: "One to five stars",
			Height:      60,
		}
		if err := c.UserFieldType.Add(ctx, t); err != nil {
			return fmt.Errorf("registering the field type: %w", err)
		}
		a.say("install: registered field type %q with userfieldtype.add (HANDLER %s)", t.UserTypeID, t.Handler)
	case bitrix24.EventAppUninstall:
		a.say("uninstall: forgot portal %s", ev.Auth.Domain)
	}
	return nil
}

// view shows the rating as stars and remembers it as the user's last rating.
func (a *App) view(ctx context.Context, f *bitrix24.FieldRequest) (template.HTML, error) {
	n := Rating(f.Field.Value())
	if n > 0 {
		if err := a.remember(ctx, f, n); err != nil {
			return "", err
		}
	}
	return template.HTML(viewStyle + `<div class="stars">` + Stars(n) + `</div>`), nil
}

// viewStyle draws the stars as the edit page does.
const viewStyle = `<style>
body { margin: 0; font: 24px/1 sans-serif; }
.stars { color: #f5a623; padding: 0 2px; letter-spacing: 4px; }
</style>`

// edit shows five buttons that set the value; on an empty field it proposes the
// rating this user gave last.
func (a *App) edit(ctx context.Context, f *bitrix24.FieldRequest) (template.HTML, error) {
	n := Rating(f.Field.Value())
	proposed := 0
	if n == 0 {
		var last string
		found, err := f.Client.UserOption.Get(ctx, LastRatingKey, &last)
		if err != nil {
			return "", fmt.Errorf("reading the user's last rating: %w", err)
		}
		if found {
			proposed = Rating(last)
		}
	} else if err := a.remember(ctx, f, n); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(editStyle)
	b.WriteString(`<div class="stars">`)
	shown := max(n, proposed)
	for i := 1; i <= 5; i++ {
		star := "☆"
		if i <= shown {
			star = "★"
		}
		fmt.Fprintf(&b, `<button type="button" title="%d" onclick="rate(%d)">%s</button>`, i, i, star)
	}
	b.WriteString(`</div>`)
	b.WriteString(rateScript)
	if proposed > 0 {
		// The portal keeps the old value unless setValue is called: propose at once.
		fmt.Fprintf(&b, `<script>b24field.setValue('%d');</script>`, proposed)
	}
	return template.HTML(b.String()), nil
}

// editStyle makes the five buttons look like stars.
const editStyle = `<style>
body { margin: 0; font: 24px/1 sans-serif; }
.stars button { font: inherit; color: #f5a623; background: none; border: 0; padding: 0 2px; cursor: pointer; }
</style>`

// rateScript sends the picked rating (a string, as field values are) and redraws the
// stars: the page is not reloaded until the card is saved.
const rateScript = `<script>
function rate(n) {
  var stars = document.querySelectorAll('.stars button');
  for (var i = 0; i < stars.length; i++) { stars[i].textContent = i < n ? '★' : '☆'; }
  b24field.setValue(String(n));
}
</script>`

// remember stores n as the user's last rating, in that user's options.
func (a *App) remember(ctx context.Context, f *bitrix24.FieldRequest, n int) error {
	if err := f.Client.UserOption.Set(ctx, map[string]any{LastRatingKey: strconv.Itoa(n)}); err != nil {
		return fmt.Errorf("remembering the rating: %w", err)
	}
	return nil
}

// Rating reads a stored value: 1 to 5, 0 when empty or invalid.
func Rating(v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > 5 {
		return 0
	}
	return n
}

// Stars draws n of five stars: "★★★★☆" for 4.
func Stars(n int) string {
	return strings.Repeat("★", n) + strings.Repeat("☆", 5-n)
}
