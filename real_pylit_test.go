package bitrix24_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// pyAssignments reads the top-level "name = literal" assignments of a Python module made
// only of literals (fast_bitrix24's tests/real_responses), skipping comments and a module
// docstring, and returns each literal as JSON. Dict keys that are ints become strings, as
// they were on the wire; None, True and False become null, true and false.
func pyAssignments(src string) (map[string]json.RawMessage, error) {
	p := &pyParser{s: src}
	out := map[string]json.RawMessage{}
	for {
		p.space()
		if p.i >= len(p.s) {
			return out, nil
		}
		if strings.HasPrefix(p.s[p.i:], `"""`) || strings.HasPrefix(p.s[p.i:], `'''`) {
			if _, err := p.str(); err != nil { // the docstring
				return nil, err
			}
			continue
		}
		start := p.i
		for p.i < len(p.s) && (p.s[p.i] == '_' || unicode.IsLetter(rune(p.s[p.i])) || unicode.IsDigit(rune(p.s[p.i]))) {
			p.i++
		}
		name := p.s[start:p.i]
		p.space()
		if name == "" || p.i >= len(p.s) || p.s[p.i] != '=' {
			return nil, fmt.Errorf("offset %d: want name = literal", start)
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		out[name] = bytes.TrimSpace(buf.Bytes())
	}
}

// pyLiteral reads one Python literal (a repr) as JSON.
func pyLiteral(src string) (json.RawMessage, error) {
	m, err := pyAssignments("x = " + src)
	return m["x"], err
}

type pyParser struct {
	s string
	i int
}

// pyDict keeps the order of its keys when encoded.
type pyDict struct {
	keys []string
	vals []any
}

func (d pyDict) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range d.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(d.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (p *pyParser) space() {
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '#':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *pyParser) value() (any, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.dict()
	case c == '[' || c == '(':
		return p.list(map[byte]byte{'[': ']', '(': ')'}[c])
	case c == '"' || c == '\'':
		return p.str()
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		start := p.i
		p.i++
		for p.i < len(p.s) && strings.IndexByte("0123456789.eE+-_", p.s[p.i]) >= 0 {
			p.i++
		}
		text := strings.ReplaceAll(strings.TrimPrefix(p.s[start:p.i], "+"), "_", "")
		if strings.HasPrefix(text, ".") {
			text = "0" + text
		}
		if _, err := strconv.ParseFloat(text, 64); err != nil {
			return nil, fmt.Errorf("offset %d: bad number %q", start, text)
		}
		return json.Number(text), nil
	}
	for word, v := range map[string]any{"None": nil, "True": true, "False": false} {
		if strings.HasPrefix(p.s[p.i:], word) {
			p.i += len(word)
			return v, nil
		}
	}
	return nil, fmt.Errorf("offset %d: unexpected %q", p.i, p.s[p.i])
}

func (p *pyParser) list(end byte) (any, error) {
	p.i++
	out := []any{}
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == end {
			p.i++
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		}
	}
}

func (p *pyParser) dict() (any, error) {
	p.i++
	var d pyDict
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return d, nil
		}
		k, err := p.value()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, fmt.Errorf("offset %d: want ':'", p.i)
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		d.keys = append(d.keys, fmt.Sprint(k))
		d.vals = append(d.vals, v)
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		}
	}
}

// str reads a string literal ('...', "...", or triple-quoted), and the literals right
// after it that Python concatenates.
func (p *pyParser) str() (any, error) {
	var b strings.Builder
	for {
		if err := p.oneStr(&b); err != nil {
			return nil, err
		}
		save := p.i
		p.space()
		if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\'') {
			p.i = save
			return b.String(), nil
		}
	}
}

func (p *pyParser) oneStr(b *strings.Builder) error {
	q := p.s[p.i : p.i+1]
	if strings.HasPrefix(p.s[p.i:], q+q+q) {
		q += q + q
	}
	p.i += len(q)
	for p.i < len(p.s) {
		if strings.HasPrefix(p.s[p.i:], q) {
			p.i += len(q)
			return nil
		}
		c := p.s[p.i]
		if c != '\\' {
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			break
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\n':
		case 'u', 'x':
			n := map[byte]int{'u': 4, 'x': 2}[e]
			r, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
			if err != nil {
				return fmt.Errorf("offset %d: bad escape", p.i)
			}
			b.WriteRune(rune(r))
			p.i += n
		default:
			b.WriteByte(e) // \\ \' \" and the rest stand for themselves
		}
	}
	return fmt.Errorf("unterminated string")
}
