package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/b24go/bitrix24"
)

// batchLine is one command of the input.
type batchLine struct {
	Key    string          `json:"key"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// batchOutput is one line of the output, in the order of the input.
type batchOutput struct {
	Key     string          `json:"key"`
	Result  json.RawMessage `json:"result,omitempty"`
	Total   *int            `json:"total,omitempty"`
	Next    *int            `json:"next,omitempty"`
	Error   *batchError     `json:"error,omitempty"`
	Skipped bool            `json:"skipped,omitempty"`
}

type batchError struct {
	Code        string `json:"code"`
	Description string `json:"description,omitempty"`
	Argument    string `json:"argument,omitempty"`
}

func (a *cli) batchCommand() *cobra.Command {
	var halt bool
	cmd := &cobra.Command{
		Use:   "batch [--halt] < commands.jsonl",
		Short: "Run JSON-lines commands from stdin, 50 per batch request",
		Long: `Read commands from stdin, one JSON object per line:
  {"key": "k1", "method": "user.option.get", "params": {"option": "theme"}}
(key defaults to "cmd<line number>"; params is optional), send them in batch requests
of up to 50, and write one JSON line per command, in input order:
  {"key": "k1", "result": ...}  {"key": "k2", "error": {"code": ..., "description": ...}}
  {"key": "k3", "skipped": true}   (not run: --halt stopped at an earlier failure)
A parameter may refer to an earlier result of the same 50: "$result[k1][ID]"; a
reference to a later command or across the 50s is refused (exit 2, nothing sent), as
are values a query string would change: non-strings in user.option.set and
app.option.set, null and empty objects or lists anywhere, more than 1000 pairs in one
command. Numbers and booleans for other methods are sent as the server reads them.
The exit status is that of the first failed command (0 when none failed); a batch is
never retried once it may have run.`,
		Example: `  printf '%s\n' '{"key":"a","method":"user.option.set","params":{"options":{"theme":"dark"}}}' \
    '{"key":"b","method":"user.option.get","params":{"option":"theme"}}' | bitrix24 batch`,
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			cmds, lines, err := a.readBatch()
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *bitrix24.Client) error {
				bar := a.progress(len(cmds), "batch")
				defer bar.done()
				p := a.printer()
				// The whole input goes to Client.Batch, which sends it in requests of
				// 50 and refuses, before sending anything, a reference across chunks
				// or to a later command and what a query string would change.
				res, err := c.Batch(ctx, halt, cmds...)
				if err != nil && res == nil {
					return inInputWords(err, cmds, lines)
				}
				var firstErr error
				for _, bc := range cmds {
					_, ran := res.Results[bc.Key]
					_, failed := res.Errors[bc.Key]
					if !ran && !failed && !slices.Contains(res.Skipped, bc.Key) {
						continue // its chunk never completed: err says why
					}
					out, cmdErr := batchOutcome(bc.Key, res)
					if cmdErr != nil && firstErr == nil {
						firstErr = cmdErr
					}
					if err := p.rowOf(out); err != nil {
						return err
					}
					bar.add(1)
				}
				if err != nil {
					_ = p.flush()
					return err
				}
				if err := p.flush(); err != nil {
					return err
				}
				if firstErr != nil {
					return fmt.Errorf("batch: the first failed command: %w", firstErr)
				}
				return nil
			})
		}),
	}
	cmd.Flags().BoolVar(&halt, "halt", false, "stop at the first failing command")
	return cmd
}

// batchOutcome is the output line of one command, and its error if it failed.
func batchOutcome(key string, res *bitrix24.BatchResult) (batchOutput, error) {
	out := batchOutput{Key: key}
	if e, ok := res.Errors[key]; ok {
		out.Error = &batchError{Code: e.Code, Description: e.Description, Argument: e.Argument}
		return out, e
	}
	if r, ok := res.Results[key]; ok {
		out.Result = r
		if len(bytes.TrimSpace(r)) == 0 {
			out.Result = json.RawMessage("null")
		}
		if t, ok := res.Totals[key]; ok {
			out.Total = &t
		}
		if n, ok := res.Nexts[key]; ok {
			out.Next = &n
		}
		return out, nil
	}
	out.Skipped = true
	return out, nil
}

// readBatch parses the JSON lines on stdin; every mistake names its line. lines[i] is
// the line of cmds[i].
func (a *cli) readBatch() (cmds []bitrix24.BatchCommand, lines []int, err error) {
	keys := map[string]int{}
	sc := bufio.NewScanner(a.stdin)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var line batchLine
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&line); err != nil || dec.More() {
			return nil, nil, usageError{fmt.Errorf(`stdin line %d: want one {"key", "method", "params"} object`, n)}
		}
		if line.Method == "" {
			return nil, nil, usageError{fmt.Errorf("stdin line %d: no method", n)}
		}
		if line.Key == "" {
			line.Key = "cmd" + strconv.Itoa(n)
		}
		if prev, dup := keys[line.Key]; dup {
			return nil, nil, usageError{fmt.Errorf("stdin line %d: key %q is already used on line %d", n, line.Key, prev)}
		}
		keys[line.Key] = n
		var params any
		if len(line.Params) > 0 && string(line.Params) != "null" {
			var obj map[string]any
			if err := decodeJSON(line.Params, &obj); err != nil {
				return nil, nil, usageError{fmt.Errorf("stdin line %d: params must be a JSON object", n)}
			}
			params = obj
		}
		cmds = append(cmds, bitrix24.BatchCommand{Key: line.Key, Method: line.Method, Params: params})
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading stdin: %w", err)
	}
	if len(cmds) == 0 {
		return nil, nil, usageError{fmt.Errorf("no commands on stdin")}
	}
	return cmds, lines, nil
}

// cmdIndexRe finds the library's name of a command, cmds[i] and its field, in a
// validation error.
var cmdIndexRe = regexp.MustCompile(`cmds\[(\d+)\](?:\.(Params|Method|Key))?`)

// inInputWords names the commands of a validation error by their stdin line and key,
// as the user wrote them, instead of by their index in the library's slice.
func inInputWords(err error, cmds []bitrix24.BatchCommand, lines []int) error {
	var ve *bitrix24.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	msg := cmdIndexRe.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := cmdIndexRe.FindStringSubmatch(m)
		i, aerr := strconv.Atoi(sub[1])
		if aerr != nil || i < 0 || i >= len(cmds) || i >= len(lines) {
			return m
		}
		name := fmt.Sprintf("stdin line %d (key %q)", lines[i], cmds[i].Key)
		if sub[2] != "" {
			name += " " + strings.ToLower(sub[2])
		}
		return name
	})
	if msg == err.Error() {
		return err
	}
	return flagError{msg: msg, err: err}
}
