package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/b24go/bitrix24/examples/fieldtype-app/starrating"
)

// tour runs the application against bitrix24test, the in-process fake portal, playing
// the portal's side: the install event, the field type's pages as users' browsers post
// them, and the uninstall event. It reports each step to out.
func tour(ctx context.Context, out io.Writer) error {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	fmt.Fprintf(out, "portal: bitrix24test fake at %s (set BITRIX24_* variables to serve a real portal)\n", srv.URL)

	// Against a real portal: &bitrix24.App{ClientID: ..., ClientSecret: ..., Store: ...};
	// the fake's App points at its own token endpoint and authorization server.
	app := srv.App(
		bitrix24.WithTimeout(5*time.Second),
		// The fake answers in microseconds: no pacing, short backoff.
		bitrix24.WithRateLimit(0, 0),
		bitrix24.WithRetry(2, 10*time.Millisecond, 100*time.Millisecond),
	)
	appServer := httptest.NewUnstartedServer(nil)
	appURL := "http://" + appServer.Listener.Addr().String()
	appServer.Config.Handler = starrating.New(app, appURL, out).Routes()
	appServer.Start()
	defer appServer.Close()
	fmt.Fprintf(out, "app: serving at %s\n", appURL)
	hc := &http.Client{Timeout: 10 * time.Second}

	step := func(format string, args ...any) { fmt.Fprintf(out, "\n"+format+"\n", args...) }

	step("1. The portal posts ONAPPINSTALL to %s/install", appURL)
	if err := expectOK(srv.SendInstall(ctx, hc, appURL+"/install")); err != nil {
		return fmt.Errorf("install: %w", err)
	}

	step("2. The field type, as the portal lists it")
	for _, t := range srv.UserFieldTypes(app.ClientID) {
		fmt.Fprintf(out, "   %s %q -> %s\n", t.UserTypeID, t.Title, t.Handler)
	}

	open := func(o bitrix24test.UserFieldOptions) (string, error) {
		req, err := srv.UserFieldRequest(ctx, appURL+"/field", o)
		if err != nil {
			return "", err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("the field page answered %s", resp.Status)
		}
		if resp.Header.Get("X-Frame-Options") != "" {
			return "", errors.New("the field page refuses to be framed")
		}
		return string(body), nil
	}
	lastRating := func(userID int) any { return srv.UserOptions(app.ClientID, userID)[starrating.LastRatingKey] }

	step("3. User 7 opens a new lead: the edit page")
	page, err := open(bitrix24test.UserFieldOptions{Mode: "edit", Page: bitrix24test.PageOptions{UserID: 7}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   shows %s, proposes nothing yet (%s)\n", shownStars(page), proposal(page))

	step("4. User 7 clicked the fourth star (setValue('4')) and saved lead 12; viewing it")
	page, err = open(bitrix24test.UserFieldOptions{Mode: "view", EntityValueID: 12, Values: []string{"4"},
		Page: bitrix24test.PageOptions{UserID: 7}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   shows %s\n", shownStars(page))
	fmt.Fprintf(out, "   user 7's last rating, set with user.option.set as user 7 (App.ClientFor): %v\n", lastRating(7))

	step("5. User 7 opens another new lead")
	page, err = open(bitrix24test.UserFieldOptions{Mode: "edit", Page: bitrix24test.PageOptions{UserID: 7}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   shows %s and %s\n", shownStars(page), proposal(page))

	step("6. User 9 rates lead 13 with two stars, on an older portal page (no APPLICATION_TOKEN)")
	page, err = open(bitrix24test.UserFieldOptions{Mode: "edit", EntityValueID: 13, EntityValueIDString: true,
		Values: []string{"2"}, Page: bitrix24test.PageOptions{UserID: 9, OldPortal: true}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   shows %s; last ratings: user 7 %v, user 9 %v\n", shownStars(page), lastRating(7), lastRating(9))
	if lastRating(7) != "4" || lastRating(9) != "2" {
		return errors.New("the users' ratings were not kept apart")
	}

	step("7. A forged page (made-up AUTH_ID) is refused")
	req, err := srv.UserFieldRequest(ctx, appURL+"/field", bitrix24test.UserFieldOptions{Mode: "edit"})
	if err != nil {
		return err
	}
	forged, err := forgeToken(req)
	if err != nil {
		return err
	}
	resp, err := hc.Do(forged)
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Fprintf(out, "   answered %s\n", resp.Status)
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("a forged page answered %s", resp.Status)
	}

	step("8. A user forges ONAPPUNINSTALL with the application_token its pages show")
	forgedUninstall, err := srv.SendEvent(ctx, hc, appURL+"/install", srv.ForgeEvent("ONAPPUNINSTALL", 2))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   answered %d: the portal still accepts the installation's pair\n", forgedUninstall)
	if forgedUninstall != http.StatusForbidden {
		return fmt.Errorf("a forged uninstall answered %d", forgedUninstall)
	}

	step("9. The portal revokes the application's tokens and posts ONAPPUNINSTALL")
	srv.Uninstall()
	if err := expectOK(srv.SendUninstall(ctx, hc, appURL+"/install")); err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	_, err = app.Client(ctx, bitrix24.TokenKey{MemberID: srv.MemberID()})
	if !errors.Is(err, bitrix24.ErrTokenNotFound) {
		return fmt.Errorf("the portal's pair survived the uninstall: %v", err)
	}
	fmt.Fprintln(out, "   App.Client for the portal now fails: token not found")
	fmt.Fprintln(out, "\ndone")
	return nil
}

func expectOK(status int, err error) error {
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("the app answered HTTP %d", status)
	}
	return nil
}

var (
	starsDiv   = regexp.MustCompile(`(?s)<div class="stars">(.*?)</div>`)
	tags       = regexp.MustCompile(`<[^>]*>`)
	proposeJS  = regexp.MustCompile(`<script>b24field\.setValue\('(\d)'\);</script>`)
	authIDForm = regexp.MustCompile(`AUTH_ID=[^&]*`)
)

// shownStars is the text of the page's stars.
func shownStars(page string) string {
	m := starsDiv.FindStringSubmatch(page)
	if m == nil {
		return "(no stars)"
	}
	return tags.ReplaceAllString(m[1], "")
}

func proposal(page string) string {
	if m := proposeJS.FindStringSubmatch(page); m != nil {
		return "proposes " + m[1] + " (setValue on load)"
	}
	return "no setValue on load"
}

// forgeToken replaces the AUTH_ID of a page request, as an attacker would.
func forgeToken(req *http.Request) (*http.Request, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	forged := authIDForm.ReplaceAllString(string(body), "AUTH_ID=f0rged0000000000000000000000000")
	out, err := http.NewRequestWithContext(req.Context(), http.MethodPost, req.URL.String(), strings.NewReader(forged))
	if err != nil {
		return nil, err
	}
	out.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return out, nil
}
