package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The tour against the fake portal must keep working: it is the example users run.
func TestTourRunsEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := tour(ctx, &out); err != nil {
		t.Fatalf("tour: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"app: install: stored the pair",
		`registered field type "starrating" with userfieldtype.add`,
		"shows ★★★★☆",
		"user 7's last rating, set with user.option.set as user 7 (App.ClientFor): 4",
		"proposes 4 (setValue on load)",
		"last ratings: user 7 4, user 9 2",
		"answered 401 Unauthorized",
		"app: uninstall: forgot portal",
		"done",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the tour's output lacks %q:\n%s", want, out.String())
		}
	}
}
