package bitrix24_test

import (
	"context"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// An application's two endpoints: the install and event handler, and the page behind a
// custom field type.
func ExampleEventHandler() {
	app := &bitrix24.App{ClientID: "local.66a1b2c3d4e5f6.78901234", ClientSecret: "from the app's settings"}
	mux := http.NewServeMux()
	mux.Handle("POST /install", &bitrix24.EventHandler{
		App: app,
		OnEvent: func(ctx context.Context, ev *bitrix24.Event) error {
			if ev.Name != bitrix24.EventAppInstall {
				return nil
			}
			// The pair is stored: register what the app needs.
			c, err := app.Client(ctx, bitrix24.TokenKey{MemberID: ev.Auth.Token.MemberID})
			if err != nil {
				return err
			}
			return c.UserFieldType.Add(ctx, bitrix24.UserFieldType{
				UserTypeID: "rating", Handler: "https://app.example.com/field", Title: "Rating"})
		},
	})
	mux.Handle("POST /field", &bitrix24.FieldTypeHandler{
		App: app,
		View: func(ctx context.Context, f *bitrix24.FieldRequest) (template.HTML, error) {
			return template.HTML(template.HTMLEscapeString(f.Field.Value()) + " stars"), nil
		},
		Edit: func(ctx context.Context, f *bitrix24.FieldRequest) (template.HTML, error) {
			return `<button onclick="b24field.setValue('5')">5 stars</button>`, nil
		},
	})
	_ = http.ListenAndServe // serve mux with your http.Server
}

// A page handler verifies the request and gets a client acting as the user who opened it.
func ExampleApp_ClientFor() {
	srv := bitrix24test.NewServer() // the portal, for this example
	defer srv.Close()
	cfg := srv.OAuthConfig()
	app := &bitrix24.App{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		TokenURL: srv.TokenURL(), ServerEndpoint: srv.ServerEndpoint(),
		Options: []bitrix24.Option{bitrix24.WithHTTPClient(srv.Client())},
	}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := bitrix24.ParseAppRequest(r)
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		c, err := app.ClientFor(r.Context(), req)
		if err != nil {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		// Stored for this user only.
		if err := c.UserOption.Set(r.Context(), map[string]any{"theme": "dark"}); err != nil {
			http.Error(w, "failed", http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, "saved")
	})
	ts := httptest.NewServer(page)
	defer ts.Close()

	// The portal's page makes user 7's browser post to the app.
	req, err := srv.AppPageRequest(context.Background(), ts.URL, bitrix24test.PageOptions{UserID: 7})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, srv.UserOptions(cfg.ClientID, 7)["theme"])
	// Output: 200 OK dark
}

func ExampleParseEvent() {
	body := "event=ONCRMLEADADD&data[FIELDS][ID]=42&ts=1767261600" +
		"&auth[member_id]=4c1f9e0b&auth[domain]=acme.bitrix24.com&auth[application_token]=9e3b7c1d"
	r := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ev, err := bitrix24.ParseEvent(r)
	if err != nil {
		log.Fatal(err)
	}
	stored := "9e3b7c1d" // saved at install
	fmt.Println(ev.Name, ev.Data["FIELDS"], bitrix24.VerifyApplicationToken(ev.Auth.ApplicationToken, stored))
	// Output: ONCRMLEADADD map[ID:42] true
}
