package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/b24go/bitrix24"
)

func (a *cli) eventsCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "events",
		Short: "Event bindings and the offline queue (event.*)",
		Long: `Bind events, and read the events Bitrix24 keeps for the application when it has no
public URL to post them to (offline events). These methods need an installed
application (OAuth); offline bindings and reading the queue need an administrator and,
for reading without losing events, the portal's rest_offline_extended feature.`,
	}, a.eventsBindCommand("bind"), a.eventsBindCommand("unbind"), a.eventsListCommand(), a.eventsTailCommand())
}

// bindingFlags are the flags of bind and unbind.
type bindingFlags struct {
	offline   bool
	handler   string
	authType  int
	connector string
}

func (a *cli) eventsBindCommand(verb string) *cobra.Command {
	var f bindingFlags
	short := map[string]string{
		"bind":   "Bind an event: to a handler URL, or --offline to keep it on the portal",
		"unbind": "Remove exactly the binding the flags describe",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " EVENT",
		Short: short,
		Example: fmt.Sprintf(`  bitrix24 events %[1]s ONCRMDEALADD --offline
  bitrix24 events %[1]s ONCRMDEALUPDATE --offline --connector erp-sync
  bitrix24 events %[1]s ONCRMDEALADD --handler https://tool.example.com/events`, verb),
		Args: cobra.ExactArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			b := bitrix24.EventBinding{Event: args[0], Offline: f.offline, Handler: f.handler, AuthType: f.authType, Connector: f.connector}
			return a.withClient(cmd, func(ctx context.Context, c *bitrix24.Client) error {
				if verb == "bind" {
					if err := c.Event.Bind(ctx, b); err != nil {
						return err
					}
					a.note("bound %s", describeBinding(b))
					return nil
				}
				if err := c.Event.Unbind(ctx, b); err != nil {
					return err
				}
				a.note("unbound %s", describeBinding(b))
				return nil
			})
		}),
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.offline, "offline", false, "keep the events on the portal (event_type=offline) instead of posting them")
	fl.StringVar(&f.handler, "handler", "", "the handler URL the portal posts events to (not with --offline)")
	fl.IntVar(&f.authType, "auth-type", 0, "the user whose rights the handler runs with (0: the installer)")
	fl.StringVar(&f.connector, "connector", "", "with --offline: the auth_connector whose queue receives the events")
	return cmd
}

func describeBinding(b bitrix24.EventBinding) string {
	if b.Offline {
		if b.Connector != "" {
			return b.Event + " offline (connector " + b.Connector + ")"
		}
		return b.Event + " offline"
	}
	return b.Event + " -> " + b.Handler
}

// bindingLine is a binding as events list prints it.
type bindingLine struct {
	Event     string `json:"event"`
	Handler   string `json:"handler,omitempty"`
	AuthType  int    `json:"auth_type,omitempty"`
	Offline   bool   `json:"offline"`
	Connector string `json:"connector,omitempty"`
}

func (a *cli) eventsListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Print the application's bindings (event.get), one per line",
		Args:  cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *bitrix24.Client) error {
				bs, err := c.Event.Bindings(ctx)
				if err != nil {
					return err
				}
				p := a.printer()
				for _, b := range bs {
					if err := p.rowOf(bindingLine{b.Event, b.Handler, b.AuthType, b.Offline, b.Connector}); err != nil {
						return err
					}
				}
				return p.flush()
			})
		}),
	}
}

// eventLine is an offline event as events tail prints it.
type eventLine struct {
	ID         bitrix24.ID    `json:"id"`
	Event      string         `json:"event"`
	Data       map[string]any `json:"data"`
	Additional map[string]any `json:"additional"`
	Timestamp  time.Time      `json:"timestamp"`
	MessageID  string         `json:"message_id"`
}

// tailFlags are the flags of events tail.
type tailFlags struct {
	follow    bool
	interval  time.Duration
	connector string
	pageSize  int
	limit     int
	errored   bool
	filter    string
}

func (a *cli) eventsTailCommand() *cobra.Command {
	var f tailFlags
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print the offline events, one JSON object per line, clearing what was printed",
		Long: `Read the offline queue (event.offline.get with clear=0) and print each event as one
line of JSON: id, event, data, additional, timestamp and message_id.

Only what was printed is cleared: a page is cleared once all of it is printed; when
tail stops in the middle of a page (--limit, an interrupt, a closed stdout) it clears
the events it printed and leaves the rest reserved, so that the next run prints them
first. A run that dies before clearing prints those events again next time: consumers
of the lines must tolerate a repeat (at least once).

Without --follow tail ends when the queue is empty; with it, it asks again every
--interval until interrupted.`,
		Example: `  bitrix24 events tail
  bitrix24 events tail --follow --interval 10s | my-sync
  bitrix24 events tail --connector erp-sync --limit 100`,
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			opts, err := f.options()
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *bitrix24.Client) error {
				return a.tail(ctx, c, f.limit, opts)
			})
		}),
	}
	fl := cmd.Flags()
	fl.BoolVarP(&f.follow, "follow", "f", false, "wait for more events instead of ending when the queue is empty")
	fl.DurationVar(&f.interval, "interval", 5*time.Second, "with --follow: how often to ask for more")
	fl.StringVar(&f.connector, "connector", "", "read the queue of this auth_connector")
	fl.IntVar(&f.pageSize, "page-size", bitrix24.DefaultOfflinePageSize, "records reserved per request")
	fl.IntVar(&f.limit, "limit", 0, "stop after this many events (0: no limit)")
	fl.BoolVar(&f.errored, "errored", false, "read the records marked failed instead")
	fl.StringVar(&f.filter, "filter", "", `a filter object, e.g. '{"=EVENT_NAME":"ONCRMDEALADD"}'`)
	return cmd
}

func (f tailFlags) options() ([]bitrix24.OfflineOption, error) {
	opts := []bitrix24.OfflineOption{bitrix24.OfflinePageSize(f.pageSize)}
	if f.follow {
		opts = append(opts, bitrix24.OfflinePoll(f.interval))
	}
	if f.connector != "" {
		opts = append(opts, bitrix24.FromConnector(f.connector))
	}
	if f.errored {
		opts = append(opts, bitrix24.OfflineErrored())
	}
	if f.filter != "" {
		var filter map[string]any
		if err := json.Unmarshal([]byte(f.filter), &filter); err != nil {
			return nil, usageError{fmt.Errorf("--filter must be a JSON object: %w", err)}
		}
		opts = append(opts, bitrix24.OfflineFilter(filter))
	}
	if f.limit < 0 {
		return nil, usageError{errors.New("--limit must not be negative")}
	}
	return opts, nil
}

// tail prints the queue. The events printed of the page in hand are cleared when tail
// stops before the page's end; whole pages are cleared by the walk itself.
func (a *cli) tail(ctx context.Context, c *bitrix24.Client, limit int, opts []bitrix24.OfflineOption) (err error) {
	var printed []bitrix24.OfflineEvent // of the current page
	n := 0
	defer func() {
		if len(printed) == 0 {
			return
		}
		// The command's ctx may be over (an interrupt): clearing what was printed
		// still deserves a few seconds.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if cerr := c.Event.Clear(cctx, printed...); cerr != nil && err == nil {
			err = fmt.Errorf("clearing the printed events: %w", cerr)
		}
	}()
	for ev, werr := range c.Event.Offline(ctx, opts...) {
		if werr != nil {
			return werr
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr // interrupted: print no more
		}
		if len(printed) > 0 && printed[0].ProcessID != ev.ProcessID {
			printed = printed[:0] // the walk cleared the previous page
		}
		line, merr := json.Marshal(eventLine{ev.ID, ev.Event, ev.Data, ev.Additional, ev.Timestamp, ev.MessageID})
		if merr != nil {
			return merr
		}
		if _, werr := fmt.Fprintf(a.stdout, "%s\n", line); werr != nil {
			return werr // not printed: not cleared
		}
		printed = append(printed, ev)
		if n++; limit > 0 && n >= limit {
			return nil
		}
	}
	return nil
}
