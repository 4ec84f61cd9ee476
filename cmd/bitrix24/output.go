package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Output formats.
const (
	formatJSON  = "json"
	formatTable = "table"
)

// printer writes data to stdout: each value as one line of compact JSON, or, with
// --format table, as aligned columns for people.
type printer struct {
	w      io.Writer
	format string
	rows   []json.RawMessage // buffered for a table, which needs every row to align
}

func (a *cli) printer() *printer { return &printer{w: a.stdout, format: a.format} }

// value prints one JSON value.
func (p *printer) value(raw json.RawMessage) error {
	if p.format == formatTable {
		return writeTable(p.w, raw)
	}
	return writeJSONLine(p.w, raw)
}

// valueOf prints v encoded as JSON.
func (p *printer) valueOf(v any) error { return marshalTo(v, p.value) }

// row prints one element of a list: a JSON line at once, or kept for the table.
func (p *printer) row(raw json.RawMessage) error {
	if p.format == formatTable {
		p.rows = append(p.rows, append(json.RawMessage(nil), raw...))
		return nil
	}
	return writeJSONLine(p.w, raw)
}

// rowOf is row for a Go value.
func (p *printer) rowOf(v any) error { return marshalTo(v, p.row) }

// marshalTo encodes v as JSON and hands it to emit.
func marshalTo(v any, emit func(json.RawMessage) error) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return emit(raw)
}

// flush prints the table of the rows kept so far.
func (p *printer) flush() error {
	if p.format != formatTable || len(p.rows) == 0 {
		return nil
	}
	err := writeRows(p.w, p.rows)
	p.rows = nil
	return err
}

func writeJSONLine(w io.Writer, raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("null")
	}
	out, err := normalizeJSON(raw)
	if err != nil {
		return fmt.Errorf("printing the answer: %w", err)
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

// normalizeJSON rewrites a JSON value compactly, in the same order, with strings
// re-encoded the plain way: PHP's "\/" and "\u041f"-style escapes become the characters
// themselves, so that people and grep read them. Numbers are kept as sent.
func normalizeJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	type container struct {
		object bool
		n      int // members written: keys and values alike in an object
	}
	var stack []container
	for {
		tok, err := dec.Token()
		if err == io.EOF && len(stack) == 0 {
			break
		}
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			buf.WriteByte(byte(d))
			continue
		}
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			switch {
			case top.object && top.n%2 == 1:
				buf.WriteByte(':')
			case top.n > 0:
				buf.WriteByte(',')
			}
			top.n++
		}
		switch v := tok.(type) {
		case json.Delim:
			buf.WriteByte(byte(v))
			stack = append(stack, container{object: v == '{'})
		case json.Number:
			buf.WriteString(v.String())
		default: // string, bool, nil
			if err := enc.Encode(v); err != nil {
				return nil, err
			}
			buf.Truncate(buf.Len() - 1) // Encode's newline
		}
	}
	return buf.Bytes(), nil
}

// writeTable prints a value for people: an object as KEY VALUE lines, a list of objects
// as columns, a list of scalars one per line, a scalar as text.
func writeTable(w io.Writer, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) > 0 && raw[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fmt.Errorf("printing the answer: %w", err)
		}
		return writeRows(w, items)
	case len(raw) > 0 && raw[0] == '{':
		keys, vals, err := objectMembers(raw)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\n", cell(json.RawMessage(k)), cell(vals[k]))
		}
		return tw.Flush()
	}
	_, err := fmt.Fprintln(w, cell(raw))
	return err
}

// writeRows prints rows as columns: the keys of the objects in the order they first
// appear. Rows that are not objects print as one cell.
func writeRows(w io.Writer, rows []json.RawMessage) error {
	var columns []string
	seen := map[string]bool{}
	objects := make([]map[string]json.RawMessage, len(rows))
	for i, r := range rows {
		keys, vals, err := objectMembers(r)
		if err != nil {
			continue // not an object
		}
		objects[i] = vals
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				columns = append(columns, k)
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(columns) > 0 {
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(columns, "\t")))
	}
	for i, r := range rows {
		if objects[i] == nil {
			fmt.Fprintln(tw, cell(r))
			continue
		}
		cells := make([]string, len(columns))
		for j, c := range columns {
			cells[j] = cell(objects[i][c])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// objectMembers decodes a JSON object, keeping the order of its keys.
func objectMembers(raw json.RawMessage) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("not a JSON object")
	}
	var keys []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		if _, dup := vals[key]; !dup {
			keys = append(keys, key)
		}
		vals[key] = v
	}
	return keys, vals, nil
}

// cell renders a JSON value in one table cell: strings bare, null empty, lists and
// objects as compact JSON; never a tab or a line break.
func cell(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	var s string
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return ""
	case raw[0] == '"':
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
	default:
		var buf bytes.Buffer
		if json.Compact(&buf, raw) != nil {
			buf.Reset()
			buf.Write(raw)
		}
		s = buf.String()
	}
	return strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// progress is a bar on stderr for long lists and batches; it does nothing unless
// stderr is a terminal (and not --quiet), so scripts and logs never see it.
type progress struct{ bar *progressbar.ProgressBar }

// progress starts a bar towards total (-1: unknown, a spinner with a count).
func (a *cli) progress(total int, what string) *progress {
	f, ok := a.stderr.(*os.File)
	if a.quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond), // redraws cost more than rows
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *progress) add(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
	}
}
