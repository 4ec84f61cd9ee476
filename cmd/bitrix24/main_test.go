package main

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/b24go/bitrix24"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes the test binary double as the bitrix24 command, so that the scripts
// run the real main without building anything.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"bitrix24": main})
}

// TestScripts runs testdata/script/*.txtar: end-to-end runs of the command against
// --fake, covering every command and every exit status. The hidden BITRIX24_FAKE_*
// variables (connect.go) make the fake fail or expire its token on demand.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":    cmdExits,
			"perm":     cmdPerm,
			"nosecret": cmdNoSecret,
		},
	})
}

// cmdExits runs a program like exec and checks its exit status:
// exits STATUS PROGRAM [ARGS...]. stdout and stderr are kept for the next commands.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits STATUS PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = exitErr.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdPerm checks a file's permission bits: perm 0600 file.
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm MODE FILE")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	ts.Check(err)
	info, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	got := uint64(info.Mode().Perm())
	if (got == want) == neg {
		ts.Fatalf("%s has mode %#o; want %s%#o", args[1], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// cmdNoSecret fails when a file holds the access or the refresh token of a token file:
// nosecret TOKENFILE FILE...
func cmdNoSecret(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: nosecret TOKENFILE FILE...")
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &tok))
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		ts.Fatalf("%s holds no pair", args[0])
	}
	for _, f := range args[1:] {
		text := ts.ReadFile(f)
		for _, secret := range []string{tok.AccessToken, tok.RefreshToken} {
			if strings.Contains(text, secret) {
				ts.Fatalf("%s contains a token of %s", f, args[0])
			}
		}
	}
}

// The exit statuses the help promises are the ones exitCode returns.
func TestHelpListsEveryExitStatus(t *testing.T) {
	t.Parallel()
	for _, code := range []int{exitOK, exitFailure, exitValidation, exitAuth, exitLimit, exitNotFound, exitAPI, exitTransport, exitInterrupted} {
		if !strings.Contains(rootLong, "\n  "+strconv.Itoa(code)+" ") {
			t.Errorf("the help does not document exit status %d", code)
		}
	}
	if got := exitCode(context.Canceled); got != exitInterrupted {
		t.Errorf("exitCode(context.Canceled) = %d, want %d", got, exitInterrupted)
	}
}

// Every code that exits 5 is named on the help's line for 5 (events bind answers
// ERROR_EVENT_NOT_FOUND for an event outside the application's scope).
func TestHelpNamesEveryNotFoundCode(t *testing.T) {
	t.Parallel()
	_, line, _ := strings.Cut(rootLong, "\n  5 ")
	line, _, _ = strings.Cut(line, "\n  6 ")
	for _, code := range []string{"ERROR_NOT_FOUND", "ERROR_METHOD_NOT_FOUND", "ERROR_EVENT_NOT_FOUND"} {
		if got := exitCode(&bitrix24.APIError{Code: code, Method: "m", StatusCode: 400}); got != exitNotFound {
			t.Errorf("%s: exit status %d, want %d", code, got, exitNotFound)
		}
		if !strings.Contains(line, code) {
			t.Errorf("the help's line for exit status 5 does not name %s: %q", code, line)
		}
	}
}
