// Command fieldtype-app is a complete small Bitrix24 application: a "star rating"
// custom field type for CRM records (package starrating beside it):
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
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/examples/fieldtype-app/starrating"
)

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
	srv := &http.Server{Addr: addr, Handler: starrating.New(app, appURL, os.Stdout).Routes(), ReadHeaderTimeout: 10 * time.Second}
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
