// Package redact scrubs Bitrix24 secrets out of strings before they reach
// logs, error messages or anything else a user might paste into a bug
// report.
//
// Secrets in Bitrix24 traffic are the webhook code in REST paths
// (https://portal/rest/<userID>/<code>/<method>), OAuth tokens and codes in
// query strings, form bodies and JSON, and bearer tokens in headers. They
// are recognised by pattern; tokens the client knows about (the current
// access and refresh tokens, the webhook code) can also be passed as
// literals, which catches them in any context the patterns miss.
package redact

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Placeholder replaces every secret. It is plain ASCII letters so it never
// introduces delimiters that could change how the rest of a line is parsed.
const Placeholder = "REDACTED"

// minLiteral is the shortest literal secret that is replaced: shorter
// strings match ordinary text too often and would make logs unreadable
// without protecting anything real (Bitrix24 tokens and codes are long).
const minLiteral = 4

// secretKeys are the parameter names whose values are secrets. client_id is
// deliberately absent: it identifies the application and is public.
const secretKeys = `auth|access_token|refresh_token|client_secret|code|application_token|ap|password|auth_id|refresh_id`

var (
	// webhookPath matches /rest/<digits>/<code> in plain, JSON-escaped
	// (\/) and percent-encoded (%2F) form; group 1 is kept.
	webhookPath = regexp.MustCompile(`((?:/|\\/|%2[Ff])(?i:rest)(?:/|\\/|%2[Ff])[0-9]+(?:/|\\/|%2[Ff]))[^/?#&\s"'<>\\%]+`)

	// A key in a query string or form body: preceded by a non-word
	// character or a percent escape (so "xauth=" and "option=auth_mode"
	// are left alone), optionally inside brackets as in Bitrix24 event
	// payloads (auth[access_token]=...), in plain or percent-encoded form.
	queryKeyPrefix = `(^|[^A-Za-z0-9_]|%[0-9A-Fa-f]{2})((?i:` + secretKeys + `)(?:\]|%5[Dd])?`

	// queryPlain: key=value. The value runs to the next & or
	// delimiter; %26 inside it is an escaped '&' belonging to the value.
	queryPlain = regexp.MustCompile(queryKeyPrefix + `=)[^&\s"'#<>\\]+`)

	// queryEscaped: key%3Dvalue, i.e. a whole query string that was
	// percent-encoded into another one; here %26 is the separator.
	queryEscaped = regexp.MustCompile(queryKeyPrefix + `%3[Dd])(?:[^&%\s"'#<>\\]|%(?:[013-9A-Fa-f][0-9A-Fa-f]|2[0-57-9A-Fa-f]))+`)

	// jsonPlain: "key" : "value" with escaped quotes allowed in the value.
	// The closing quote is not consumed so it can open the next key.
	jsonPlain = regexp.MustCompile(`("(?i:` + secretKeys + `)"\s*:\s*")(?:[^"\\]|\\.)+`)

	// jsonEscaped: the same inside a JSON string (a JSON body logged as
	// a string field): \"key\":\"value\". Inside the value, \\\" is an
	// escaped quote of the inner document and \\\\ an escaped backslash;
	// a bare \" ends the value.
	jsonEscaped = regexp.MustCompile(`(\\"(?i:` + secretKeys + `)\\"\s*:\s*\\")(?:[^"\\]|\\\\\\\\|\\\\\\"|\\\\[^"\\]|\\[^"\\])+`)

	// bearer: "Bearer <token68>" in an Authorization header or free text.
	bearer = regexp.MustCompile(`((?i:\bbearer)\s+)[A-Za-z0-9\-._~+/]+=*`)
)

// Trigger flags: which families of patterns can possibly match.
const (
	trigPath   = 1 << iota // "rest": webhook paths
	trigKey                // a secret key name: query, form and JSON patterns
	trigBearer             // "bearer"
)

// pattern is one regexp with the cheap preconditions that must hold for it
// to match, so that most log lines run no regexp at all.
type pattern struct {
	re    *regexp.Regexp
	repl  string
	flag  int    // required trigger flag
	needs string // required literal substring ("" = none)
}

// patterns run in order; each keeps its group 1 (and 2) and replaces the
// rest of the match.
var patterns = []pattern{
	{webhookPath, "${1}" + Placeholder, trigPath, ""},
	{queryPlain, "${1}${2}" + Placeholder, trigKey, "="},
	{queryEscaped, "${1}${2}" + Placeholder, trigKey, "%3"},
	{jsonPlain, "${1}" + Placeholder, trigKey, ":"},
	{jsonEscaped, "${1}" + Placeholder, trigKey, `\"`},
	{bearer, "${1}" + Placeholder, trigBearer, ""},
}

// triggers are lower-case substrings at least one of which every pattern
// needs, indexed by first byte so scanning a line touches each byte once.
var triggers = func() (t [256][]trigger) {
	for _, tr := range []trigger{
		{"rest", trigPath},
		{"bearer", trigBearer},
		{"auth", trigKey}, {"token", trigKey}, {"secret", trigKey}, {"code", trigKey},
		{"password", trigKey}, {"refresh_id", trigKey},
		{"ap=", trigKey}, {"ap%3d", trigKey}, {`ap"`, trigKey}, {`ap\`, trigKey},
		{"ap]", trigKey}, {"ap%5d", trigKey},
	} {
		c := tr.s[0]
		t[c] = append(t[c], tr)
		if 'a' <= c && c <= 'z' {
			t[c-('a'-'A')] = append(t[c-('a'-'A')], tr)
		}
	}
	return t
}()

type trigger struct {
	s    string // lower case
	flag int
}

// scanTriggers returns the trigger flags present in s, ignoring ASCII case,
// without allocating.
func scanTriggers(s string) int {
	flags := 0
	for i := 0; i < len(s); i++ {
		for _, tr := range triggers[s[i]] {
			if flags&tr.flag == 0 && hasPrefixFold(s[i+1:], tr.s[1:]) {
				flags |= tr.flag
			}
		}
	}
	return flags
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// hasPrefixFold reports whether s starts with the lower-case prefix p,
// ignoring ASCII case in s.
func hasPrefixFold(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if lower(s[i]) != p[i] {
			return false
		}
	}
	return true
}

// String returns s with every secret pattern replaced by Placeholder, plus
// every literal in secrets and its url.QueryEscape and url.PathEscape
// forms. Literals shorter than 4 bytes (including empty ones) are ignored
// so that a bad value cannot shred ordinary text.
func String(s string, secrets ...string) string {
	return redactWith(s, newLiterals(secrets))
}

// redactWith applies the patterns and then the literal replacer (which may
// be nil). Patterns run first so that a literal that happens to equal a
// key name cannot hide the key and let its value through.
func redactWith(s string, lit *strings.Replacer) string {
	if flags := scanTriggers(s); flags != 0 {
		for _, p := range patterns {
			if flags&p.flag != 0 && strings.Contains(s, p.needs) {
				s = p.re.ReplaceAllString(s, p.repl)
			}
		}
	}
	if lit != nil {
		s = lit.Replace(s)
	}
	return s
}

// newLiterals builds a single-pass replacer for the literals and their
// escaped forms, or nil when there is nothing to replace. A single pass
// matters: replacing one literal at a time could match inside a
// Placeholder inserted by an earlier one.
func newLiterals(secrets []string) *strings.Replacer {
	seen := make(map[string]struct{}, 3*len(secrets))
	forms := make([]string, 0, 3*len(secrets))
	for _, sec := range secrets {
		if len(sec) < minLiteral {
			continue
		}
		for _, f := range [...]string{sec, url.QueryEscape(sec), url.PathEscape(sec)} {
			if _, dup := seen[f]; dup {
				continue
			}
			seen[f] = struct{}{}
			forms = append(forms, f)
		}
	}
	if len(forms) == 0 {
		return nil
	}
	// strings.Replacer prefers earlier arguments at the same position;
	// longest first means a secret that extends another is removed whole.
	sort.Slice(forms, func(i, j int) bool {
		if len(forms[i]) != len(forms[j]) {
			return len(forms[i]) > len(forms[j])
		}
		return forms[i] < forms[j]
	})
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Placeholder)
	}
	return strings.NewReplacer(pairs...)
}

// URL returns a copy of u with the webhook code in its path, the secret
// query parameters, the userinfo password and the given literals replaced
// by Placeholder. u is not modified; nil returns nil. It exists to rebuild
// *url.Error values, whose messages embed the full request URL, before
// they are returned to users.
func URL(u *url.URL, secrets ...string) *url.URL {
	if u == nil {
		return nil
	}
	lit := newLiterals(secrets)
	c := *u
	c.Opaque = redactWith(u.Opaque, lit)
	c.Path = redactWith(u.Path, lit)
	c.RawPath = redactWith(u.RawPath, lit)
	c.RawQuery = redactWith(u.RawQuery, lit)
	c.Fragment = redactWith(u.Fragment, lit)
	c.RawFragment = redactWith(u.RawFragment, lit)
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			c.User = url.UserPassword(u.User.Username(), Placeholder)
		}
	}
	return &c
}

// maxSecrets bounds a Secrets set. OAuth tokens rotate (access tokens
// hourly), so a long-running client would otherwise grow the set forever;
// the oldest entries are long expired by the time they are dropped.
const maxSecrets = 4096

// Secrets is a concurrency-safe set of literal secrets that grows over
// time: OAuth tokens rotate, and the client adds each new access and
// refresh token so that logs never show any of them. The zero value is an
// empty set ready to use.
//
// Adds are rare and String is frequent, so Add rebuilds an immutable
// snapshot (list and compiled replacer) and String only reads it.
type Secrets struct {
	mu   sync.RWMutex
	list []string          // immutable once published; Add replaces it
	rep  *strings.Replacer // compiled from list; nil when list is empty
}

// Add adds literal secrets to the set. Values shorter than 4 bytes and
// duplicates are ignored. When the set exceeds 4096 entries the oldest are
// dropped.
func (s *Secrets) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []string
	for _, sec := range secrets {
		if len(sec) < minLiteral || contains(s.list, sec) || contains(next, sec) {
			continue
		}
		next = append(next, sec)
	}
	if len(next) == 0 {
		return
	}
	list := make([]string, 0, len(s.list)+len(next))
	list = append(list, s.list...)
	list = append(list, next...)
	if len(list) > maxSecrets {
		list = list[len(list)-maxSecrets:]
	}
	s.list = list
	s.rep = newLiterals(list)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// List returns a copy of the secrets in the order they were added, so the
// caller cannot modify the set through it.
func (s *Secrets) List() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.list...)
}

// String returns text redacted with the patterns of String and every
// secret in the set; it is equivalent to redact.String(text, s.List()...)
// but reuses a replacer compiled when the set last changed.
func (s *Secrets) String(text string) string {
	s.mu.RLock()
	rep := s.rep
	s.mu.RUnlock()
	return redactWith(text, rep)
}
