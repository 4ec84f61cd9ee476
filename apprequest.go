package bitrix24

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// PlacementUserFieldType is the PLACEMENT of a custom field type's handler request.
const PlacementUserFieldType = "USERFIELD_TYPE"

// AppRequest is the POST a portal's browser sends to an application page or placement
// handler (the app's main page, a USERFIELD_TYPE handler, a CRM tab, ...). Every field
// can be forged by whoever sends it: use [App.Verify] or [App.ClientFor] before trusting
// it.
//
// Its String and GoString methods never print the tokens or the application token.
type AppRequest struct {
	// Domain, Protocol ("1" https, "0" http), Lang and AppSID come from the query string.
	Domain, Protocol, Lang, AppSID string
	// Token is the calling user's pair: AUTH_ID, REFRESH_ID, AUTH_EXPIRES (a duration,
	// turned into Expiry), member_id, SERVER_ENDPOINT and APPLICATION_SCOPE; its
	// ClientEndpoint is built from Protocol and Domain. AccessToken may be empty (a user
	// without access to the application, on older portals). UserID is 0: the form does
	// not carry it ([App.ClientFor] learns it from the authorization server).
	Token            Token
	Status           string          // "status": L, F, D, T, P or S (informational; app.info is the trusted source)
	Placement        string          // "DEFAULT", "USERFIELD_TYPE", "CRM_DEAL_DETAIL_TAB", ...
	PlacementOptions json.RawMessage // raw PLACEMENT_OPTIONS (nil when absent)
	ApplicationToken string          // APPLICATION_TOKEN (newer portals only)
}

// String describes the request without revealing a secret.
func (r AppRequest) String() string {
	return fmt.Sprintf("bitrix24.AppRequest{Domain:%q Protocol:%q Lang:%q Placement:%q Token:%s ApplicationToken:%s}",
		r.Domain, r.Protocol, r.Lang, r.Placement, r.Token, mask(r.ApplicationToken))
}

// GoString is String, so %#v is as safe as %v.
func (r AppRequest) GoString() string { return r.String() }

// PortalURL is the portal's address as the request claims it: "https://" (or
// "http://" when Protocol is "0") + Domain, without a trailing slash.
func (r *AppRequest) PortalURL() string {
	scheme := "https://"
	if r.Protocol == "0" {
		scheme = "http://"
	}
	host := r.Domain
	// The portal adds the port unless it is the scheme's default.
	if scheme == "https://" {
		host = strings.TrimSuffix(host, ":443")
	} else {
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + host
}

// ParseAppRequest reads an app page or placement POST: DOMAIN, PROTOCOL, LANG and
// APP_SID from the query string (the body is used when the query lacks them), the rest
// from the urlencoded body. SERVER_ENDPOINT, APPLICATION_TOKEN and APPLICATION_SCOPE are
// optional (older portals omit them), and so are the tokens.
//
// It fails with an error matching [ErrValidation] when the request is not a POST, the
// body is not a well-formed form, DOMAIN or member_id is missing, AUTH_EXPIRES is not a
// number of seconds (or overflows), or PLACEMENT_OPTIONS is not JSON. The body is restored afterwards.
func ParseAppRequest(r *http.Request) (*AppRequest, error) {
	form, err := readForm(r, "app request")
	if err != nil {
		return nil, err
	}
	query := r.URL.Query()
	fromQuery := func(key string) string {
		if v := query.Get(key); v != "" {
			return v
		}
		return stringAt(form, key)
	}
	req := &AppRequest{
		Domain:   strings.TrimSpace(fromQuery("DOMAIN")),
		Protocol: fromQuery("PROTOCOL"),
		Lang:     fromQuery("LANG"),
		AppSID:   fromQuery("APP_SID"),
		Token: Token{
			AccessToken:    stringAt(form, "AUTH_ID"),
			RefreshToken:   stringAt(form, "REFRESH_ID"),
			Scope:          stringAt(form, "APPLICATION_SCOPE"),
			MemberID:       stringAt(form, "member_id"),
			ServerEndpoint: stringAt(form, "SERVER_ENDPOINT"),
		},
		Status:           stringAt(form, "status"),
		Placement:        stringAt(form, "PLACEMENT"),
		ApplicationToken: stringAt(form, "APPLICATION_TOKEN"),
	}
	if req.Domain == "" {
		return nil, invalid("DOMAIN", "must be present in the query string")
	}
	if !isHostPort(req.Domain) {
		return nil, invalid("DOMAIN", "must be a host name, optionally with a port")
	}
	if req.Token.MemberID == "" {
		return nil, invalid("member_id", "must not be empty")
	}
	// AUTH_EXPIRES is a duration, counted from the request's arrival.
	in, err := durationSeconds("AUTH_EXPIRES", stringAt(form, "AUTH_EXPIRES"))
	if err != nil {
		return nil, err
	}
	if in > 0 {
		req.Token.Expiry = time.Now().Add(in)
	}
	req.Token.ClientEndpoint = req.PortalURL() + "/rest/"
	if opts, ok := form["PLACEMENT_OPTIONS"].(string); ok && strings.TrimSpace(opts) != "" {
		if !json.Valid([]byte(opts)) {
			return nil, invalid("PLACEMENT_OPTIONS", "must be JSON")
		}
		req.PlacementOptions = json.RawMessage(opts)
	}
	return req, nil
}

// UserFieldPlacement is PLACEMENT_OPTIONS of a USERFIELD_TYPE request: what a custom
// field type's handler renders.
type UserFieldPlacement struct {
	Mode          string // "view" or "edit"
	EntityID      string // e.g. "CRM_LEAD"
	FieldName     string // e.g. "UF_CRM_RATING"
	EntityValueID ID     // the record; 0 for a new one
	// Values is VALUE: one element for a single field, one per value for a multiple
	// field, nil when empty (null, [] and [null] are all empty). Values are strings, as
	// Bitrix24 stores them; numbers are kept in their JSON text.
	Values    []string
	Multiple  bool
	Mandatory bool
	XMLID     string
	// EntityData is ENTITY_DATA, which CRM adds ({"entityTypeId":1,"entityId":123,...}); nil when absent.
	EntityData json.RawMessage
}

// Value is the first value, or "" when the field is empty: the value of a single field.
func (p *UserFieldPlacement) Value() string {
	if len(p.Values) == 0 {
		return ""
	}
	return p.Values[0]
}

// Mode values of a USERFIELD_TYPE request.
const (
	FieldModeView = "view"
	FieldModeEdit = "edit"
)

// userFieldWire is PLACEMENT_OPTIONS as sent: VALUE and XML_ID vary in type.
type userFieldWire struct {
	Mode          string          `json:"MODE"`
	EntityID      string          `json:"ENTITY_ID"`
	FieldName     string          `json:"FIELD_NAME"`
	EntityValueID ID              `json:"ENTITY_VALUE_ID"`
	Value         json.RawMessage `json:"VALUE"`
	Multiple      string          `json:"MULTIPLE"`
	Mandatory     string          `json:"MANDATORY"`
	XMLID         json.RawMessage `json:"XML_ID"`
	EntityData    json.RawMessage `json:"ENTITY_DATA"`
}

// UserField decodes PLACEMENT_OPTIONS; it fails (matching [ErrValidation]) unless
// Placement is "USERFIELD_TYPE" and the options are an object with MODE "view" or
// "edit".
func (r *AppRequest) UserField() (*UserFieldPlacement, error) {
	if r == nil {
		return nil, invalid("AppRequest", "must not be nil")
	}
	if !strings.EqualFold(r.Placement, PlacementUserFieldType) {
		return nil, invalid("PLACEMENT", fmt.Sprintf("must be %s (got %q)", PlacementUserFieldType, r.Placement))
	}
	raw := bytes.TrimSpace(r.PlacementOptions)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, invalid("PLACEMENT_OPTIONS", "must be a JSON object")
	}
	var w userFieldWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, invalid("PLACEMENT_OPTIONS", "does not decode: "+err.Error())
	}
	mode := strings.ToLower(strings.TrimSpace(w.Mode))
	if mode != FieldModeView && mode != FieldModeEdit {
		return nil, invalid("PLACEMENT_OPTIONS.MODE", `must be "view" or "edit"`)
	}
	values, err := fieldValues(w.Value)
	if err != nil {
		return nil, err
	}
	p := &UserFieldPlacement{
		Mode:          mode,
		EntityID:      w.EntityID,
		FieldName:     w.FieldName,
		EntityValueID: w.EntityValueID,
		Values:        values,
		Multiple:      strings.EqualFold(w.Multiple, "Y"),
		Mandatory:     strings.EqualFold(w.Mandatory, "Y"),
		XMLID:         scalarText(w.XMLID),
	}
	if d := bytes.TrimSpace(w.EntityData); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		p.EntityData = append(json.RawMessage(nil), d...)
	}
	return p, nil
}

// fieldValues normalises VALUE: null, "" and [null] are empty; a scalar is one value;
// a list keeps its non-null elements.
func fieldValues(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var elems []json.RawMessage
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, invalid("PLACEMENT_OPTIONS.VALUE", "does not decode")
		}
	} else {
		elems = []json.RawMessage{raw}
	}
	var out []string
	for _, e := range elems {
		e = bytes.TrimSpace(e)
		if len(e) == 0 || bytes.Equal(e, []byte("null")) {
			continue
		}
		if e[0] == '{' || e[0] == '[' {
			return nil, invalid("PLACEMENT_OPTIONS.VALUE", "must hold strings, not nested objects or lists")
		}
		out = append(out, scalarText(e))
	}
	if len(out) == 1 && out[0] == "" && len(elems) == 1 {
		return nil, nil // a single empty string is an empty field
	}
	return out, nil
}

// scalarText is a JSON scalar as text: strings unquoted, numbers and booleans as
// written, null as "".
func scalarText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// isHostPort accepts the characters of a host name, an IPv6 literal and a port: DOMAIN
// goes into URLs and a Content-Security-Policy header.
func isHostPort(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
