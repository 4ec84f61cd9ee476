// Command bitrix24 calls the Bitrix24 REST API from shells, scripts, cron jobs and
// terminals, through the same typed, paced, retrying and secret-safe client as the Go
// package github.com/b24go/bitrix24.
//
// Install it with
//
//	go install github.com/b24go/bitrix24/cmd/bitrix24@latest
//
// and run "bitrix24 --help" for the commands, the credentials it reads, the output
// formats and the exit codes. "--fake" runs any command against an in-process fake
// portal (package bitrix24test): nothing leaves the machine.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// cli is one run of the tool: its streams, its settings and what it connected to.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	settings
	ran  bool                 // a command's RunE started: errors before it are usage errors
	fake *bitrix24test.Server // the --fake portal, closed when the run ends
}

// settings are the global flags, after the environment filled what was not given.
type settings struct {
	webhookURL   string
	portalURL    string
	clientID     string
	clientSecret string
	tokenFile    string
	tokenURL     string
	authMode     string
	fakeMode     bool
	format       string
	timeout      time.Duration
	rate         float64
	burst        int
	allowHTTP    bool
	verbose      bool
	quiet        bool
}

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.fake != nil {
		a.fake.Close()
	}
	if err == nil {
		return exitOK
	}
	err = inToolWords(err)
	if !a.ran {
		err = usageError{err}
	}
	fmt.Fprintln(stderr, "Error:", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", commandPath(root, args))
	}
	if needsApp(err) {
		fmt.Fprintf(stderr, "This method needs an installed application: set %s, %s and a token file (see 'bitrix24 auth --help'), or --auth oauth.\n",
			envClientID, envClientSecret)
	}
	return exitCode(err)
}

// needsApp tells a refusal of a webhook where the method needs an application.
func needsApp(err error) bool {
	var apiErr *bitrix24.APIError
	return errors.Is(err, bitrix24.ErrWrongAuthType) ||
		errors.As(err, &apiErr) && errors.Is(err, bitrix24.ErrAccessDenied) && strings.Contains(apiErr.Description, "Application context required")
}

// commandPath names the command the arguments reach, for the usage hint.
func commandPath(root *cobra.Command, args []string) string {
	if c, _, err := root.Find(args); err == nil && c != nil {
		return c.CommandPath()
	}
	return root.CommandPath()
}

// runE marks that a command started, so that its errors are classified by their
// cause rather than as usage errors.
func (a *cli) runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.ran = true
		return f(cmd, args)
	}
}

// group is a command that only holds subcommands: auth, option, fieldtype.
func group(cmd *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	cmd.AddCommand(subs...)
	return cmd
}

// Environment variables the global flags fall back to.
const (
	envWebhookURL   = "BITRIX24_WEBHOOK_URL"
	envPortalURL    = "BITRIX24_PORTAL_URL"
	envClientID     = "BITRIX24_CLIENT_ID"
	envClientSecret = "BITRIX24_CLIENT_SECRET"
	envTokenFile    = "BITRIX24_TOKEN_FILE"
	envTokenURL     = "BITRIX24_TOKEN_URL"
)

const rootLong = `bitrix24 calls the Bitrix24 REST API through the Go SDK github.com/b24go/bitrix24:
typed errors, client-side pacing, retries that never repeat a call that may have run,
OAuth refresh with rotation, and no secret in any output.

Credentials (flags override the environment):
  BITRIX24_WEBHOOK_URL    an inbound webhook, https://<portal>/rest/<user>/<code>/
or an installed application:
  BITRIX24_CLIENT_ID, BITRIX24_CLIENT_SECRET
  BITRIX24_TOKEN_FILE     the token pair (default: <user config dir>/bitrix24/token.json),
                          written by "bitrix24 auth exchange", rotated atomically, mode 0600,
                          locked while refreshing: safe beside a server sharing the file
  BITRIX24_PORTAL_URL     the portal (default: the client endpoint stored with the pair)
  BITRIX24_TOKEN_URL      the token endpoint (default https://oauth.bitrix.info/oauth/token/)
A webhook is used when one is set, unless --auth oauth. user.option.* and
userfieldtype.* need an application: Bitrix24 refuses them through a webhook.
--fake runs the command against a fresh in-process fake portal with an installed
application, a webhook and 120 deals (crm.item.list entityTypeId=2); nothing
leaves this machine.

Parameters: key=value sends value as a string; key:=JSON sends any JSON value
(numbers, true, null, lists, objects); brackets name nested members:
  filter[>ID]:=100  select:='["ID","TITLE"]'  options[theme]=dark
--params '{"json": "object"}' (or @file, @- for stdin) gives the object to start from.

Output: data on stdout, JSON by default (one value per line; lists as JSON lines),
--format table for people; diagnostics on stderr. A progress bar appears on stderr
for lists and batches when stderr is a terminal.

Exit status:
  0    success
  1    any other failure (a local file, ...)
  2    invalid input or usage; nothing was sent
  3    authentication or authorization (NO_AUTH_FOUND, expired_token, invalid_token,
       INVALID_CREDENTIALS, insufficient_scope, ACCESS_DENIED, WRONG_AUTH_TYPE,
       user_access_error, invalid_grant, invalid_client, no stored token pair)
  4    rate or operating limit (QUERY_LIMIT_EXCEEDED, OPERATION_TIME_LIMIT, OVERLOAD_LIMIT)
  5    not found (ERROR_NOT_FOUND, ERROR_METHOD_NOT_FOUND, ERROR_EVENT_NOT_FOUND, an option
       that is not set)
  6    any other error the API answered (ERROR_ARGUMENT, ERROR_CORE, ...)
  7    transport: network, TLS, timeout, an answer that is not Bitrix24 JSON
  130  interrupted`

// rootCommand builds the command tree.
func (a *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "bitrix24",
		Short:         "Call the Bitrix24 REST API from the shell",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.resolve(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.webhookURL, "webhook-url", "", "inbound webhook URL (env "+envWebhookURL+")")
	pf.StringVar(&a.portalURL, "portal-url", "", "portal address for OAuth (env "+envPortalURL+")")
	pf.StringVar(&a.clientID, "client-id", "", "application client id (env "+envClientID+")")
	pf.StringVar(&a.clientSecret, "client-secret", "", "application client secret; prefer the environment (env "+envClientSecret+")")
	pf.StringVar(&a.tokenFile, "token-file", "", "file holding the OAuth token pair (env "+envTokenFile+")")
	pf.StringVar(&a.tokenURL, "token-url", "", "OAuth token endpoint (env "+envTokenURL+")")
	pf.StringVar(&a.authMode, "auth", "auto", "credentials to use: auto, webhook or oauth")
	pf.BoolVar(&a.fakeMode, "fake", false, "run against an in-process fake portal")
	pf.StringVarP(&a.format, "format", "o", "json", "output format: json or table")
	pf.DurationVar(&a.timeout, "timeout", 0, "bound the whole command, retries included (0: no bound beyond each attempt's 30s)")
	pf.Float64Var(&a.rate, "rate", 2, "requests per second the client paces itself to (0: off; Enterprise: 5)")
	pf.IntVar(&a.burst, "burst", 50, "requests that may go at once (Enterprise: 250)")
	pf.BoolVar(&a.allowHTTP, "allow-http", false, "permit http:// portals (local development)")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log each request on stderr (secrets redacted)")
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "no notes or progress on stderr")
	_ = root.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"json", "table"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("auth", cobra.FixedCompletions([]string{"auto", "webhook", "oauth"}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(a.callCommand(), a.optionCommand(), a.fieldTypeCommand(), a.listCommand(), a.batchCommand(), a.authCommand(),
		a.eventsCommand())
	return root
}

// resolve fills the settings the flags left empty from the environment and checks them.
func (a *cli) resolve(cmd *cobra.Command) error {
	for _, f := range []struct {
		flag, env string
		dst       *string
	}{
		{"webhook-url", envWebhookURL, &a.webhookURL},
		{"portal-url", envPortalURL, &a.portalURL},
		{"client-id", envClientID, &a.clientID},
		{"client-secret", envClientSecret, &a.clientSecret},
		{"token-file", envTokenFile, &a.tokenFile},
		{"token-url", envTokenURL, &a.tokenURL},
	} {
		if !cmd.Flags().Changed(f.flag) {
			*f.dst = a.getenv(f.env)
		}
	}
	switch a.format {
	case formatJSON, formatTable:
	default:
		return fmt.Errorf("--format must be json or table, not %q", a.format)
	}
	switch a.authMode {
	case "auto", "webhook", "oauth":
	default:
		return fmt.Errorf("--auth must be auto, webhook or oauth, not %q", a.authMode)
	}
	return nil
}

// note writes a diagnostic line on stderr unless --quiet.
func (a *cli) note(format string, args ...any) {
	if !a.quiet {
		fmt.Fprintf(a.stderr, format+"\n", args...)
	}
}
