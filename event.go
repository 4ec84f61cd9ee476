package bitrix24

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/b24go/bitrix24/internal/phpquery"
)

// Names of the events of an application's own life cycle.
const (
	EventAppInstall   = "ONAPPINSTALL"
	EventAppUpdate    = "ONAPPUPDATE"
	EventAppUninstall = "ONAPPUNINSTALL"
)

// maxFormBody caps the body of an event or app-page POST read by [ParseEvent] and
// [ParseAppRequest]: both are small forms.
const maxFormBody = 1 << 20

// Event is an event POST (ONAPPINSTALL, ONAPPUPDATE, ONAPPUNINSTALL or any event bound
// with event.bind): form-encoded, with PHP bracket keys ("data[FIELDS][ID]").
//
// Every field can be forged by whoever can reach the handler: check Auth.ApplicationToken
// with [VerifyApplicationToken] against the value stored at install ([EventHandler] does).
type Event struct {
	Name      string         // as sent, e.g. "ONAPPINSTALL"; compare case-insensitively
	HandlerID int            // "event_handler_id"
	Data      map[string]any // the data[...] block: strings, maps, and lists for keys 0..n-1
	Timestamp time.Time      // "ts"; zero when absent
	Auth      EventAuth

	// auth[expires] and auth[expires_in] as sent: what [EventHandler] compares with the
	// stored pair (Auth.Token.Expiry counts from the event's arrival).
	expires   time.Time
	expiresIn time.Duration
}

// String describes the event without revealing a secret.
func (e Event) String() string {
	return fmt.Sprintf("bitrix24.Event{Name:%q HandlerID:%d Timestamp:%s Auth:%s}",
		e.Name, e.HandlerID, e.Timestamp.UTC().Format(time.RFC3339), e.Auth)
}

// GoString is String, so %#v is as safe as %v.
func (e Event) GoString() string { return e.String() }

// EventAuth is the auth[...] block of an event.
type EventAuth struct {
	// Token holds access_token, refresh_token, the expiry (expires_in, a duration counted
	// from the event's arrival; expires, a Unix time of the portal's clock, only without
	// it), scope (comma-separated), member_id, client_endpoint, server_endpoint and
	// user_id (all as the event claims them: [EventHandler] stores the endpoints that
	// app.info and App.AuthServers vouch for instead). Its tokens are empty for ONAPPUNINSTALL and for events that no user
	// triggered; refresh_token comes only with ONAPPINSTALL, ONAPPUPDATE and
	// onOfflineEvent.
	Token            Token
	Domain           string // the portal's host, e.g. "example.bitrix24.com"
	ApplicationToken string // the installation's application_token
	Status           string // the application's status on the portal: L, F, D, T, P, S
}

// String describes the block without revealing the tokens or the application token.
func (a EventAuth) String() string {
	return fmt.Sprintf("bitrix24.EventAuth{Token:%s Domain:%q ApplicationToken:%s Status:%q}",
		a.Token, a.Domain, mask(a.ApplicationToken), a.Status)
}

// GoString is String, so %#v is as safe as %v.
func (a EventAuth) GoString() string { return a.String() }

// ParseEvent reads an event POST. It fails with an error matching [ErrValidation] when
// the request is not a POST, the body is not a well-formed urlencoded form (or exceeds
// 1 MiB), the event name, the auth block or its member_id is missing, or ts, expires or
// expires_in is malformed or out of range (never wrapped).
//
// The body is restored afterwards, so r.ParseForm still works.
func ParseEvent(r *http.Request) (*Event, error) {
	form, err := readForm(r, "event")
	if err != nil {
		return nil, err
	}
	ev := &Event{Name: strings.TrimSpace(stringAt(form, "event"))}
	if ev.Name == "" {
		return nil, invalid("event", "must not be empty")
	}
	if id := stringAt(form, "event_handler_id"); id != "" {
		if ev.HandlerID, err = strconv.Atoi(id); err != nil {
			return nil, invalid("event_handler_id", "must be an integer")
		}
	}
	if ts := stringAt(form, "ts"); ts != "" {
		if ev.Timestamp, err = unixTime("ts", ts); err != nil {
			return nil, err
		}
	}
	switch d := form["data"].(type) {
	case nil:
	case map[string]any:
		for k, v := range d {
			d[k] = listify(v) // Data stays a map even when its own keys are 0..n-1
		}
		ev.Data = d
	default:
		// "data=x" without brackets: keep it rather than drop it.
		ev.Data = map[string]any{"": d}
	}
	auth, ok := form["auth"].(map[string]any)
	if !ok {
		return nil, invalid("auth", "must be present (auth[member_id], auth[application_token], ...)")
	}
	if ev.Auth, err = parseEventAuth(auth, time.Now()); err != nil {
		return nil, err
	}
	ev.expires, _ = unixTime("auth[expires]", stringAt(auth, "expires"))
	ev.expiresIn, _ = durationSeconds("auth[expires_in]", stringAt(auth, "expires_in"))
	return ev, nil
}

func parseEventAuth(m map[string]any, now time.Time) (EventAuth, error) {
	a := EventAuth{
		Token: Token{
			AccessToken:    stringAt(m, "access_token"),
			RefreshToken:   stringAt(m, "refresh_token"),
			Scope:          stringAt(m, "scope"),
			MemberID:       stringAt(m, "member_id"),
			ClientEndpoint: stringAt(m, "client_endpoint"),
			ServerEndpoint: stringAt(m, "server_endpoint"),
		},
		Domain:           stringAt(m, "domain"),
		ApplicationToken: stringAt(m, "application_token"),
		Status:           stringAt(m, "status"),
	}
	if a.Token.MemberID == "" {
		return EventAuth{}, invalid("auth[member_id]", "must not be empty")
	}
	if uid := stringAt(m, "user_id"); uid != "" {
		n, err := strconv.Atoi(uid)
		if err != nil {
			return EventAuth{}, invalid("auth[user_id]", "must be an integer")
		}
		a.Token.UserID = n
	}
	expiry, err := expiryFrom(stringAt(m, "expires"), stringAt(m, "expires_in"), now)
	if err != nil {
		return EventAuth{}, err
	}
	a.Token.Expiry = expiry
	return a, nil
}

// expiryFrom counts the expiry from now, when the answer arrived, and expiresIn (a
// duration), as x/oauth2 does: the server's clock may be far from ours. The absolute
// Unix time expires is used only when expiresIn is absent. Values that overflow are
// refused with [ErrValidation].
func expiryFrom(expires, expiresIn string, now time.Time) (time.Time, error) {
	in, err := durationSeconds("auth[expires_in]", expiresIn)
	if err != nil {
		return time.Time{}, err
	}
	at, err := unixTime("auth[expires]", expires)
	if err != nil {
		return time.Time{}, err
	}
	switch {
	case in > 0:
		return now.Add(in), nil
	case strings.TrimSpace(expiresIn) == "":
		return at, nil
	}
	return time.Time{}, nil
}

// maxLifetime bounds the durations a server may send (expires_in, AUTH_EXPIRES): far
// beyond any token's life, far below what overflows a time.Duration.
const maxLifetime = 100 * 365 * 24 * time.Hour

// maxUnixTime is the last second of year 9999: later times do not even print in RFC 3339.
const maxUnixTime = 253402300799

// durationSeconds reads a duration in seconds; "" and "0" are 0 (unknown). Negative, malformed
// and overflowing values are refused with [ErrValidation].
func durationSeconds(field, raw string) (time.Duration, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return 0, nil
	}
	sec, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || sec < 0 {
		return 0, invalid(field, "must be a number of seconds")
	}
	if sec > int64(maxLifetime/time.Second) {
		return 0, invalid(field, "is out of range (overflow)")
	}
	return time.Duration(sec) * time.Second, nil
}

// unixTime reads a Unix time in seconds; "" and "0" are the zero time. Negative,
// malformed and out-of-range values are refused with [ErrValidation].
func unixTime(field, raw string) (time.Time, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return time.Time{}, nil
	}
	sec, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, invalid(field, "must be a Unix time")
	}
	if sec > maxUnixTime {
		return time.Time{}, invalid(field, "is out of range (overflow)")
	}
	if sec == 0 {
		return time.Time{}, nil
	}
	return time.Unix(sec, 0), nil
}

// VerifyApplicationToken reports whether got equals want, in constant time. It is false
// when either is empty, so a missing token never matches a missing stored one.
func VerifyApplicationToken(got, want string) bool {
	if got == "" || want == "" {
		return false
	}
	// Hashing first makes the comparison independent of the lengths too.
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// readForm reads a urlencoded POST body (at most maxFormBody bytes), checks its syntax
// and decodes it with PHP's bracket rules. field names the request in errors. The body
// is put back for later readers.
func readForm(r *http.Request, field string) (map[string]any, error) {
	if r == nil {
		return nil, invalid("request", "must not be nil")
	}
	if r.Method != http.MethodPost {
		return nil, invalid("request", "must be a POST (got "+r.Method+")")
	}
	if ct := mediaTypeOf(r.Header.Get("Content-Type")); ct != "" && ct != "application/x-www-form-urlencoded" {
		return nil, invalid("request", "body must be application/x-www-form-urlencoded")
	}
	if r.Body == nil {
		return nil, invalid("request", "has no body")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBody+1))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("bitrix24: reading the %s body: %w", field, err)
	}
	if len(body) > maxFormBody {
		return nil, invalid("request", fmt.Sprintf("body exceeds %d bytes", maxFormBody))
	}
	// phpquery.Parse accepts anything, as PHP does; a body that url.ParseQuery rejects
	// (bad escapes, semicolons) did not come from Bitrix24.
	if _, err := url.ParseQuery(string(body)); err != nil {
		return nil, invalid("request", "body is not a well-formed urlencoded form")
	}
	return phpquery.Parse(string(body)), nil
}

func mediaTypeOf(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// stringAt returns m[key] when it is a string (PHP form values are strings; a nested
// map there is not what the key should hold).
func stringAt(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// listify turns maps whose keys are exactly 0..n-1 into lists, recursively, as PHP
// would encode them.
func listify(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if list, ok := phpquery.ToList(m); ok && len(list) > 0 {
		for i, e := range list {
			list[i] = listify(e)
		}
		return list
	}
	for k, e := range m {
		m[k] = listify(e)
	}
	return m
}
