package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/b24go/bitrix24"
)

// knownMethods complete METHOD arguments; any other method works too.
var knownMethods = []string{
	"profile", "server.time", "scope", "methods", "batch",
	"user.option.get", "user.option.set", "app.option.get", "app.option.set",
	"userfieldtype.add", "userfieldtype.update", "userfieldtype.list", "userfieldtype.delete",
	"crm.item.list", "crm.deal.list", "crm.lead.list", "crm.contact.list", "crm.company.list",
	"tasks.task.list", "user.get",
}

func completeMethod(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, m := range knownMethods {
		if len(args) == 0 && strings.HasPrefix(m, prefix) {
			out = append(out, m)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func (a *cli) callCommand() *cobra.Command {
	var idempotent bool
	cmd := &cobra.Command{
		Use:   "call METHOD [key=value | key:=JSON ...]",
		Short: "Call any REST method and print its result",
		Long: `Call any REST method and print its "result" as JSON.

key=value sends value as a string, key:=JSON any JSON value; brackets name nested
members (filter[>ID]:=100). --params gives a JSON object to start from (@file reads a
file, @- stdin); key=value pairs are set on top of it.

A call that fails after it may have run is not retried unless --idempotent says that
repeating it is harmless.`,
		Example: `  bitrix24 call profile
  bitrix24 call crm.deal.get id:=42
  bitrix24 call user.option.set options[theme]=dark
  bitrix24 call crm.deal.list --params '{"filter": {">OPPORTUNITY": 1000}}' select:='["ID","TITLE"]'`,
	}
	a.methodCommand(cmd, func(cmd *cobra.Command, method string, params any) error {
		return a.withClient(cmd, func(ctx context.Context, c *bitrix24.Client) error {
			var opts []bitrix24.CallOption
			if idempotent {
				opts = append(opts, bitrix24.WithIdempotent())
			}
			var result json.RawMessage
			if err := c.Call(ctx, method, params, &result, opts...); err != nil {
				return err
			}
			return a.printer().value(result)
		})
	})
	cmd.Flags().BoolVar(&idempotent, "idempotent", false, "the method may be repeated after an ambiguous failure")
	return cmd
}

// methodCommand makes cmd a command on one REST method, as call and list are:
// METHOD [key=value | key:=JSON ...] with --params, completed from knownMethods. run
// gets the method and its parameters (nil when there are none).
func (a *cli) methodCommand(cmd *cobra.Command, run func(cmd *cobra.Command, method string, params any) error) {
	var paramsJSON string
	cmd.Args = cobra.MinimumNArgs(1)
	cmd.ValidArgsFunction = completeMethod
	cmd.RunE = a.runE(func(cmd *cobra.Command, args []string) error {
		params, err := a.params(paramsJSON, args[1:])
		if err != nil {
			return err
		}
		return run(cmd, args[0], paramsOrNil(params))
	})
	cmd.Flags().StringVar(&paramsJSON, "params", "", "parameters as a JSON object (@file, @- for stdin)")
}

// params builds the parameters of a call: the --params object, then each pair on top.
// nil when there are none, so that nothing but the credentials is sent.
func (a *cli) params(paramsJSON string, pairs []string) (map[string]any, error) {
	var params map[string]any
	if paramsJSON != "" {
		data := []byte(paramsJSON)
		if name, ok := strings.CutPrefix(paramsJSON, "@"); ok {
			var err error
			if name == "-" {
				data, err = io.ReadAll(a.stdin)
			} else {
				data, err = os.ReadFile(name)
			}
			if err != nil {
				return nil, fmt.Errorf("--params: %w", err)
			}
		}
		if err := decodeJSON(data, &params); err != nil || params == nil {
			return nil, usageError{fmt.Errorf("--params must be a JSON object")}
		}
	}
	if len(pairs) > 0 && params == nil {
		params = map[string]any{}
	}
	for _, p := range pairs {
		if err := setPair(params, p); err != nil {
			return nil, usageError{err}
		}
	}
	return params, nil
}

// decodeJSON decodes one JSON value, numbers kept exact.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("more than one JSON value")
	}
	return nil
}

// setPair parses key=value (a string) or key:=JSON (any JSON value) and sets it in
// params. The key is a name followed by any number of [member] selectors; a selector
// may hold any character but "]", "=" included (filter[>=ID]:=5).
func setPair(params map[string]any, pair string) error {
	path, rest, err := splitKey(pair)
	if err != nil {
		return err
	}
	var value any
	switch {
	case strings.HasPrefix(rest, ":="):
		if err := decodeJSON([]byte(rest[2:]), &value); err != nil {
			return fmt.Errorf("%q: the value after := must be JSON (for a string use key=value)", pathString(path))
		}
	case strings.HasPrefix(rest, "="):
		value = rest[1:]
	default:
		return fmt.Errorf("%q is not key=value or key:=JSON", pair)
	}
	m := params
	for i, k := range path {
		if i == len(path)-1 {
			m[k] = value
			break
		}
		switch next := m[k].(type) {
		case map[string]any:
			m = next
		case nil:
			child := map[string]any{}
			m[k] = child
			m = child
		default:
			return fmt.Errorf("%q: %q is already set to a value that is not an object", pathString(path), k)
		}
	}
	return nil
}

// splitKey takes the key path off the front of a pair and returns the rest, which
// starts with "=" or ":=".
func splitKey(pair string) ([]string, string, error) {
	end := strings.IndexAny(pair, "[=:")
	if end <= 0 {
		return nil, "", fmt.Errorf("%q is not key=value or key:=JSON (the key is missing)", pair)
	}
	path := []string{pair[:end]}
	rest := pair[end:]
	for strings.HasPrefix(rest, "[") {
		close := strings.IndexByte(rest, ']')
		if close < 0 {
			return nil, "", fmt.Errorf("%q: a [ is not closed", pair)
		}
		if close == 1 {
			return nil, "", fmt.Errorf("%q: [] is not supported: send a list with key:='[...]'", pair)
		}
		path = append(path, rest[1:close])
		rest = rest[close+1:]
	}
	return path, rest, nil
}

func pathString(path []string) string {
	if len(path) == 1 {
		return path[0]
	}
	return path[0] + "[" + strings.Join(path[1:], "][") + "]"
}

// paramsOrNil keeps a nil map a nil interface: no parameters at all.
func paramsOrNil(p map[string]any) any {
	if p == nil {
		return nil
	}
	return p
}
