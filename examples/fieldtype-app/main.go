// Command fieldtype-app is a complete small Bitrix24 application: a "star rating"
// custom field type for CRM records.
//
//   - /install is its event endpoint: ONAPPINSTALL stores the portal's pair and
//     registers the field type (userfieldtype.add); ONAPPUNINSTALL forgets the portal.
//   - /field is the field type's HANDLER: view shows the stars, edit lets the user pick
//     a rating (BX24.placement.call('setValue', ...)) and proposes, on a new record, the
//     rating this user gave last. Each user's last rating is kept per user with
//     user.option.set, through a client acting as that user (App.ClientFor).
//
// With no BITRIX24_* variable set, it runs end to end against bitrix24test, the
// in-process fake portal, printing each step (see tour.go). To serve a real portal, set
// BITRIX24_CLIENT_ID, BITRIX24_CLIENT_SECRET and BITRIX24_APP_URL (the public https URL
// this program is reachable at; BITRIX24_APP_ADDR is the listen address, default
// ":8080"), and enter BITRIX24_APP_URL + "/install" as the local application's install
// handler.
package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/b24go/bitrix24"
)

// fieldTypeID is the USER_TYPE_ID of the star rating.
const fieldTypeID = "starrating"

// lastRatingKey is the user option holding a user's last rating.
const lastRatingKey = "lastRating"

func main() {
	if !anyBitrix24Env() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := tour(ctx, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "fieldtype-app:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "fieldtype-app:", err)
		os.Exit(1)
	}
}

func anyBitrix24Env() bool {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BITRIX24_") {
			return true
		}
	}
	return false
}

// serve runs the application for a real portal until ctx ends.
func serve(ctx context.Context) error {
	appURL := strings.TrimRight(os.Getenv("BITRIX24_APP_URL"), "/")
	app := &bitrix24.App{
		ClientID:     os.Getenv("BITRIX24_CLIENT_ID"),
		ClientSecret: os.Getenv("BITRIX24_CLIENT_SECRET"),
	}
	if app.ClientID == "" || app.ClientSecret == "" || appURL == "" {
		return errors.New("set BITRIX24_CLIENT_ID, BITRIX24_CLIENT_SECRET and BITRIX24_APP_URL")
	}
	addr := os.Getenv("BITRIX24_APP_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	srv := &http.Server{Addr: addr, Handler: newRatingApp(app, appURL, os.Stdout).routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Printf("serving on %s; install handler %s/install, field handler %s/field\n", addr, appURL, appURL)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ratingApp is the application: its bitrix24.App and where it is reachable.
type ratingApp struct {
	app    *bitrix24.App
	appURL string    // public base URL, for the field type's HANDLER
	out    io.Writer // where each step is reported
}

func newRatingApp(app *bitrix24.App, appURL string, out io.Writer) *ratingApp {
	return &ratingApp{app: app, appURL: appURL, out: out}
}

func (a *ratingApp) say(format string, args ...any) {
	fmt.Fprintf(a.out, "   app: "+format+"\n", args...)
}

// routes serves the event endpoint and the field type's handler.
func (a *ratingApp) routes() http.Handler {
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
func (a *ratingApp) onEvent(ctx context.Context, ev *bitrix24.Event) error {
	member := ev.Auth.Token.MemberID
	switch strings.ToUpper(ev.Name) {
	case bitrix24.EventAppInstall:
		a.say("install: stored the pair and the application_token of portal %s", ev.Auth.Domain)
		c, err := a.app.Client(ctx, bitrix24.TokenKey{MemberID: member})
		if err != nil {
			return err
		}
		t := bitrix24.UserFieldType{
			UserTypeID:  fieldTypeID,
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
func (a *ratingApp) view(ctx context.Context, f *bitrix24.FieldRequest) (template.HTML, error) {
	n := rating(f.Field.Value())
	if n > 0 {
		if err := a.remember(ctx, f, n); err != nil {
			return "", err
		}
	}
	return template.HTML(`<div class="stars">` + stars(n) + `</div>`), nil
}

// edit shows five buttons that set the value; on an empty field it proposes the
// rating this user gave last.
func (a *ratingApp) edit(ctx context.Context, f *bitrix24.FieldRequest) (template.HTML, error) {
	n := rating(f.Field.Value())
	proposed := 0
	if n == 0 {
		var last string
		found, err := f.Client.UserOption.Get(ctx, lastRatingKey, &last)
		if err != nil {
			return "", fmt.Errorf("reading the user's last rating: %w", err)
		}
		if found {
			proposed = rating(last)
		}
	} else if err := a.remember(ctx, f, n); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(`<div class="stars">`)
	shown := max(n, proposed)
	for i := 1; i <= 5; i++ {
		star := "☆"
		if i <= shown {
			star = "★"
		}
		fmt.Fprintf(&b, `<button type="button" onclick="b24field.setValue('%d')">%s</button>`, i, star)
	}
	b.WriteString(`</div>`)
	if proposed > 0 {
		// The portal keeps the old value unless setValue is called: propose at once.
		fmt.Fprintf(&b, `<script>b24field.setValue('%d');</script>`, proposed)
	}
	return template.HTML(b.String()), nil
}

// remember stores n as the user's last rating, in that user's options.
func (a *ratingApp) remember(ctx context.Context, f *bitrix24.FieldRequest, n int) error {
	if err := f.Client.UserOption.Set(ctx, map[string]any{lastRatingKey: strconv.Itoa(n)}); err != nil {
		return fmt.Errorf("remembering the rating: %w", err)
	}
	return nil
}

// rating reads a stored value: 1 to 5, 0 when empty or invalid.
func rating(v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > 5 {
		return 0
	}
	return n
}

func stars(n int) string {
	return strings.Repeat("★", n) + strings.Repeat("☆", 5-n)
}
