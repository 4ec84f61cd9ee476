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

// How patterns are matched: a single left-to-right scan looks for trigger
// words (a key name, "rest", "bearer", compared ignoring ASCII case). Only
// where one occurs, and the character before it fits, is an anchored
// regexp run to find where the secret ends. Unanchored regexps over whole
// strings ran at ~10 MB/s even on text without secrets; this way a line
// without trigger words costs a few ns per byte and no allocation, and
// regexps only ever look at the neighbourhood of a trigger word.

// A rule is one pattern anchored at a trigger word. Group 1 is kept; the
// rest of the match is the secret.
type rule struct {
	re *regexp.Regexp
	// before reports whether the text before the trigger at p fits the
	// pattern (regexp has no look-behind, and anchoring at the word keeps
	// the scan cheap).
	before func(s string, p int) bool
	// follow lists the bytes that may come right after the trigger
	// word; checking it first avoids running regexps on ordinary words.
	follow string
}

const keyAlt = `(?i:` + secretKeys + `)`

var (
	// webhookRule: /rest/<digits>/<code> in plain, JSON-escaped (\/) and
	// percent-encoded (%2F) form.
	webhookRule = rule{
		regexp.MustCompile(`^((?i:rest)(?:/|\\/|%2[Ff])[0-9]{1,20}(?:/|\\/|%2[Ff]))[^/?#&\s"'<>\\%]+`),
		func(s string, p int) bool {
			return p >= 1 && s[p-1] == '/' || p >= 3 && s[p-3] == '%' && s[p-2] == '2' && lower(s[p-1]) == 'f'
		},
		`/\%`,
	}

	// keyRules match a secret key and its value. All of them need the key
	// to start a name: preceded by nothing, a non-word character or a
	// percent escape, so "xauth=" and "option=auth_mode" are left alone.
	// Keys may sit in brackets as in Bitrix24 event payloads
	// (auth[access_token]=...).
	keyRules = []rule{
		// key=value in a query string or form body. The value runs to
		// the next & or delimiter; %26 inside it is an escaped '&' that
		// belongs to the value.
		{regexp.MustCompile(`^(` + keyAlt + `(?:\]|%5[Dd])?=)[^&\s"'#<>\\]+`), nameStart, "]=%"},
		// key%3Dvalue: a whole query string percent-encoded into another
		// one (e.g. a redirect URL); here %26 separates parameters.
		{regexp.MustCompile(`^(` + keyAlt + `(?:\]|%5[Dd])?%3[Dd])(?:[^&%\s"'#<>\\]|%(?:[013-9A-Fa-f][0-9A-Fa-f]|2[0-57-9A-Fa-f]))+`), nameStart, "]%"},
		// "key" : "value" in JSON, escaped quotes allowed in the value.
		// The closing quote is not consumed so it can open the next key.
		{regexp.MustCompile(`^(` + keyAlt + `"\s{0,16}:\s{0,16}")(?:[^"\\]|\\.)+`), func(s string, p int) bool {
			return p >= 1 && s[p-1] == '"'
		}, `"`},
		// \"key\":\"value\": JSON inside a JSON string (a body logged as
		// a string field). In the value, \\\" is an escaped quote of the
		// inner document and \\\\ an escaped backslash; a bare \" ends it.
		{regexp.MustCompile(`^(` + keyAlt + `\\"\s{0,16}:\s{0,16}\\")(?:[^"\\]|\\\\\\\\|\\\\\\"|\\\\[^"\\]|\\[^"\\])+`), func(s string, p int) bool {
			return p >= 2 && s[p-2] == '\\' && s[p-1] == '"'
		}, `\`},
	}

	// bearerRule: "Bearer <token68>" in an Authorization header or free text.
	bearerRule = rule{
		regexp.MustCompile(`^((?i:bearer)\s{1,16})[A-Za-z0-9\-._~+/]+=*`),
		func(s string, p int) bool { return p == 0 || !isWord(s[p-1]) },
		" \t\n\v\f\r",
	}
)

// nameStart reports whether a parameter name can start at p.
func nameStart(s string, p int) bool {
	return p == 0 || !isWord(s[p-1]) || p >= 3 && s[p-3] == '%' && isHex(s[p-2]) && isHex(s[p-1])
}

func isWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// trigger is a lower-case word and the rules to try where it occurs.
type trigger struct {
	word  string
	rules []rule
}

// triggers is indexed by the first byte of the word (both cases), so the
// scan does one table lookup per byte of input.
var triggers = func() (t [256][]trigger) {
	add := func(word string, rules []rule) {
		tr := trigger{word, rules}
		c := word[0]
		t[c] = append(t[c], tr)
		if 'a' <= c && c <= 'z' {
			t[c-('a'-'A')] = append(t[c-('a'-'A')], tr)
		}
	}
	add("rest", []rule{webhookRule})
	add("bearer", []rule{bearerRule})
	for _, w := range strings.Split(secretKeys, "|") {
		add(w, keyRules)
	}
	return t
}()

// maxRescan bounds how many trigger words inside one secret are examined
// (see redactPatterns), which keeps adversarial input such as
// "auth=auth=auth=..." linear instead of quadratic.
const maxRescan = 16

// redactPatterns replaces the secret part of every pattern match in s. It
// returns s itself, without allocating, when nothing matches.
//
// After a match the scan continues inside the secret rather than after it,
// and overlapping or touching secrets are merged into one Placeholder.
// Without that, a match that ends in the middle of another pattern would
// hide it: in "Bearer auth=SECRET" the bearer token is "auth=" (token68
// may end in '='), and skipping past it would leave SECRET behind.
func redactPatterns(s string) string {
	var b strings.Builder
	matched := false
	last := 0                // s[:last] has been written to b
	curStart, curEnd := 0, 0 // pending secret [curStart, curEnd), open when matched
	inside := 0              // trigger words examined inside the pending secret
	flush := func() {
		b.WriteString(s[last:curStart])
		b.WriteString(Placeholder)
		last = curEnd
	}
	for p := 0; p < len(s); p++ {
		trs := triggers[s[p]]
		if trs == nil {
			continue
		}
		if matched && p < curEnd {
			if inside++; inside > maxRescan {
				p = curEnd - 1
				continue
			}
		}
		keep, end := matchAt(s, p, trs)
		if end <= keep {
			continue
		}
		switch {
		case !matched:
			matched = true
			b.Grow(len(s))
		case keep <= curEnd:
			// keep >= p > start of the pending match >= last, so
			// moving curStart back never uncovers written text.
			curStart = min(curStart, keep)
			curEnd = max(curEnd, end)
			continue
		default:
			flush()
		}
		curStart, curEnd, inside = keep, end, 0
	}
	if !matched {
		return s
	}
	flush()
	b.WriteString(s[last:])
	return b.String()
}

// matchAt tries the rules of every trigger word occurring at p and returns
// the end of the kept prefix and the end of the secret (both absolute), or
// end <= keep when nothing matches.
func matchAt(s string, p int, trs []trigger) (keep, end int) {
	for _, tr := range trs {
		n := p + len(tr.word)
		if n >= len(s) || !hasPrefixFold(s[p:], tr.word) {
			continue
		}
		for _, r := range tr.rules {
			if strings.IndexByte(r.follow, s[n]) < 0 || !r.before(s, p) {
				continue
			}
			if loc := find(r.re, s, p); loc != nil && loc[1] > loc[3] {
				if tr.word == "code" && errorCode(s[p+loc[3]:p+loc[1]]) {
					continue
				}
				return p + loc[3], p + loc[1]
			}
		}
	}
	return 0, 0
}

// errorCode reports whether the value of a "code" key is an error code, such as REST
// v3's {"error":{"code":"BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION"}}, rather than
// an OAuth authorization code (lower-case hex). Error codes are upper-case words joined
// by underscores; an authorization code never has an underscore.
func errorCode(v string) bool {
	if len(v) == 0 || v[0] < 'A' || v[0] > 'Z' || !strings.Contains(v, "_") {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// find runs the anchored re on s[p:], looking at a window that doubles
// while the match reaches its end. Go's backtracking matcher clears state
// proportional to the input length on every call, so handing it the whole
// rest of a long body at each trigger would make redaction quadratic. The
// non-secret part of every pattern is bounded (at most 54 bytes), so a
// failure within the first window is final. A match ending near the edge
// may have been cut inside a multi-byte unit of the value (an escape such
// as \\\\ or %26), so those are retried with a larger window too.
func find(re *regexp.Regexp, s string, p int) []int {
	const slack = 8 // longer than any single unit of a value
	for w := 128; ; w *= 2 {
		if w >= len(s)-p {
			return re.FindStringSubmatchIndex(s[p:])
		}
		loc := re.FindStringSubmatchIndex(s[p : p+w])
		if loc == nil || loc[1] < w-slack {
			return loc
		}
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// hasPrefixFold reports whether s starts with the lower-case word w,
// ignoring ASCII case in s.
func hasPrefixFold(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if lower(s[i]) != w[i] {
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
	s = redactPatterns(s)
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

// maxSecrets bounds the rotating part of a Secrets set (512 entries: about ten days of
// hourly pairs, long after they expired). OAuth tokens rotate (access tokens
// hourly), so a long-running client would otherwise grow the set forever;
// the oldest entries are long expired by the time they are dropped.
const maxSecrets = 512

// Secrets is a concurrency-safe set of literal secrets that grows over
// time: OAuth tokens rotate, and the client adds each new access and
// refresh token so that logs never show any of them. The zero value is an
// empty set ready to use.
//
// Adds are rare and String is frequent, so Add rebuilds an immutable
// snapshot (list and compiled replacer) and String only reads it.
type Secrets struct {
	mu     sync.RWMutex
	pinned []string          // long-lived secrets (a client secret, a webhook code): never dropped
	list   []string          // immutable once published; Add replaces it
	rep    *strings.Replacer // compiled from pinned and list; nil when both are empty
}

// AddPinned adds secrets that live as long as the set: unlike those added with Add,
// they are never dropped to make room, however many others come after them.
func (s *Secrets) AddPinned(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range secrets {
		if len(sec) < minLiteral || contains(s.pinned, sec) {
			continue
		}
		s.pinned = append(s.pinned[:len(s.pinned):len(s.pinned)], sec)
	}
	s.rep = newLiterals(append(append([]string(nil), s.pinned...), s.list...))
}

// Add adds literal secrets to the set. Values shorter than 4 bytes and
// duplicates are ignored. When the set exceeds maxSecrets entries the oldest are
// dropped.
func (s *Secrets) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []string
	for _, sec := range secrets {
		if len(sec) < minLiteral || contains(s.list, sec) || contains(next, sec) || contains(s.pinned, sec) {
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
	s.rep = newLiterals(append(append([]string(nil), s.pinned...), list...))
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
	return append(append([]string(nil), s.pinned...), s.list...)
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
