package bitrix24test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ApplicationToken returns the installed application's application_token: 32 random
// hex digits, stable for the portal and the application (until
// [Server.RotateApplicationToken]). Events and app pages carry it.
func (s *Server) ApplicationToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appTokenLocked(s.mainApp)
}

// RotateApplicationToken gives the installed application a new application_token (as a
// changed secret or shared key does) and returns it; the next ONAPPUPDATE carries it.
func (s *Server) RotateApplicationToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appSide.appTokens == nil {
		s.appSide.appTokens = map[*app]string{}
	}
	t := randString(32, hexDigits)
	s.appSide.appTokens[s.mainApp] = t
	return t
}

func (s *Server) appTokenLocked(a *app) string {
	if s.appSide.appTokens == nil {
		s.appSide.appTokens = map[*app]string{}
	}
	t, ok := s.appSide.appTokens[a]
	if !ok {
		t = randString(32, hexDigits)
		s.appSide.appTokens[a] = t
	}
	return t
}

// EventForm returns the form the queue server posts for event name (upper-cased) of the
// installed application, as the real one sends it: string values, PHP bracket keys,
// auth[...] per the event:
//
//   - ONAPPINSTALL and ONAPPUPDATE: a fresh pair of user 1 with refresh_token, and
//     data[VERSION], data[ACTIVE]/data[INSTALLED] or data[PREVIOUS_VERSION],
//     data[LANGUAGE_ID];
//   - ONAPPUNINSTALL: no tokens (domain, server_endpoint, client_endpoint, member_id,
//     application_token only), data[LANGUAGE_ID] and data[CLEAN]=0;
//   - any other name: an access token of user 1 without refresh_token, no data.
//
// Change the values to forge an event; [Server.SendEvent] posts it.
func (s *Server) EventForm(name string) url.Values {
	name = strings.ToUpper(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.now()
	f := url.Values{}
	f.Set("event", name)
	f.Set("event_handler_id", "1")
	f.Set("ts", strconv.FormatInt(now.Unix(), 10))
	switch name {
	case "ONAPPINSTALL":
		f.Set("data[VERSION]", "1")
		f.Set("data[ACTIVE]", "Y")
		f.Set("data[INSTALLED]", "Y")
		f.Set("data[LANGUAGE_ID]", "en")
	case "ONAPPUPDATE":
		f.Set("data[VERSION]", "2")
		f.Set("data[PREVIOUS_VERSION]", "1")
		f.Set("data[LANGUAGE_ID]", "en")
	case "ONAPPUNINSTALL":
		f.Set("data[LANGUAGE_ID]", "en")
		f.Set("data[CLEAN]", "0")
	}
	a := s.mainApp
	if name != "ONAPPUNINSTALL" {
		g := s.issueLocked(a, 1)
		f.Set("auth[access_token]", g.access)
		f.Set("auth[expires]", strconv.FormatInt(g.expires.Unix(), 10))
		f.Set("auth[expires_in]", strconv.FormatInt(int64(s.cfg.tokenLifetime.Seconds()), 10))
		f.Set("auth[scope]", a.scope)
		if name == "ONAPPINSTALL" || name == "ONAPPUPDATE" {
			f.Set("auth[refresh_token]", g.refresh)
		}
		f.Set("auth[status]", "L")
		f.Set("auth[user_id]", "1")
	}
	f.Set("auth[domain]", s.host())
	f.Set("auth[server_endpoint]", s.serverEndpointLocked())
	f.Set("auth[client_endpoint]", s.RESTURL())
	f.Set("auth[member_id]", s.memberID)
	f.Set("auth[application_token]", s.appTokenLocked(a))
	return f
}

// SendEvent posts form to an application's handler URL, as the queue server does
// (application/x-www-form-urlencoded, once, no retry), through hc (nil: a client with a
// 30-second timeout). It returns the handler's HTTP status.
func (s *Server) SendEvent(ctx context.Context, hc *http.Client, handlerURL string, form url.Values) (int, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, handlerURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, fmt.Errorf("bitrix24test: event request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Bitrix24 Webhook Engine")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bitrix24test: posting the event: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// SendInstall posts ONAPPINSTALL to handlerURL (see [Server.EventForm]).
func (s *Server) SendInstall(ctx context.Context, hc *http.Client, handlerURL string) (int, error) {
	return s.SendEvent(ctx, hc, handlerURL, s.EventForm("ONAPPINSTALL"))
}

// SendUpdate posts ONAPPUPDATE to handlerURL, with the current application_token.
func (s *Server) SendUpdate(ctx context.Context, hc *http.Client, handlerURL string) (int, error) {
	return s.SendEvent(ctx, hc, handlerURL, s.EventForm("ONAPPUPDATE"))
}

// SendUninstall posts ONAPPUNINSTALL to handlerURL.
func (s *Server) SendUninstall(ctx context.Context, hc *http.Client, handlerURL string) (int, error) {
	return s.SendEvent(ctx, hc, handlerURL, s.EventForm("ONAPPUNINSTALL"))
}

// PageOptions shapes the browser's POST to an application page or placement handler
// ([Server.AppPageRequest]).
type PageOptions struct {
	// UserID is the portal user who opens the page (default 1, added as a non-admin
	// when unknown); AUTH_ID and REFRESH_ID are a fresh pair of that user, which the fake
	// accepts.
	UserID int
	// Placement is PLACEMENT (default "DEFAULT").
	Placement string
	// PlacementOptions is encoded as the portal does (PHP's JSON, "\/" and "\u0022"
	// escapes) into PLACEMENT_OPTIONS; nil omits the field.
	PlacementOptions any
	// Lang is LANG (default "en").
	Lang string
	// OldPortal omits SERVER_ENDPOINT, APPLICATION_TOKEN and APPLICATION_SCOPE, as
	// portals before the newer app.layout do.
	OldPortal bool
	// NoAccess sends empty AUTH_ID and REFRESH_ID, as older portals do for a user without
	// access to the application (a USERFIELD_TYPE page is shown all the same).
	NoAccess bool
}

// AppPageRequest builds the POST that the portal's page makes the user's browser send
// to handlerURL: DOMAIN, PROTOCOL, LANG and APP_SID appended to the query (with "&"
// when handlerURL has one), AUTH_ID, AUTH_EXPIRES (a duration), REFRESH_ID,
// SERVER_ENDPOINT, APPLICATION_TOKEN, APPLICATION_SCOPE, member_id, status, PLACEMENT
// and PLACEMENT_OPTIONS in the form body. Send it with an *http.Client or hand it to a
// handler's ServeHTTP.
func (s *Server) AppPageRequest(ctx context.Context, handlerURL string, o PageOptions) (*http.Request, error) {
	if o.UserID == 0 {
		o.UserID = 1
	}
	if o.Placement == "" {
		o.Placement = "DEFAULT"
	}
	if o.Lang == "" {
		o.Lang = "en"
	}
	s.mu.Lock()
	s.ensureUserLocked(o.UserID)
	a := s.mainApp
	var access, refresh string
	if !o.NoAccess {
		g := s.issueLocked(a, o.UserID)
		access, refresh = g.access, g.refresh
	}
	appToken := s.appTokenLocked(a)
	scope := a.scope
	serverEndpoint := s.serverEndpointLocked()
	s.mu.Unlock()

	protocol := "1"
	if s.cfg.plainHTTP {
		protocol = "0"
	}
	query := "DOMAIN=" + s.host() + "&PROTOCOL=" + protocol + "&LANG=" + url.QueryEscape(o.Lang) +
		"&APP_SID=" + randString(32, hexDigits)
	sep := "?"
	if strings.Contains(handlerURL, "?") {
		sep = "&"
	}
	// The form's fields in the order of app.layout's template.
	var body bytes.Buffer
	field := func(k, v string) {
		if body.Len() > 0 {
			body.WriteByte('&')
		}
		body.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(v))
	}
	field("AUTH_ID", access)
	field("AUTH_EXPIRES", strconv.FormatInt(int64(s.cfg.tokenLifetime.Seconds()), 10))
	field("REFRESH_ID", refresh)
	if !o.OldPortal {
		field("SERVER_ENDPOINT", serverEndpoint)
		field("APPLICATION_TOKEN", appToken)
		field("APPLICATION_SCOPE", scope)
	}
	field("member_id", s.memberID)
	field("status", "L")
	field("PLACEMENT", o.Placement)
	if o.PlacementOptions != nil {
		field("PLACEMENT_OPTIONS", string(phpJSON(o.PlacementOptions)))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, handlerURL+sep+query, &body)
	if err != nil {
		return nil, fmt.Errorf("bitrix24test: app page request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

// UserFieldOptions shapes the POST of a custom field type's page
// ([Server.UserFieldRequest]).
type UserFieldOptions struct {
	// Mode is "view" (the default) or "edit".
	Mode string
	// EntityID is ENTITY_ID (default "CRM_LEAD"); FieldName FIELD_NAME (default
	// "UF_CRM_FIELD").
	EntityID, FieldName string
	// EntityValueID is the record (0 for a new one). Current portals send a number,
	// older ones a string: EntityValueIDString sends it as a string.
	EntityValueID       int
	EntityValueIDString bool
	// Values is VALUE: for a single field its first element, or null when empty; for a
	// multiple field the list, or [null] when empty.
	Values    []string
	Multiple  bool
	Mandatory bool
	XMLID     string // XML_ID; "" sends null
	// Page carries the user, the language and the portal switches.
	Page PageOptions
}

// UserFieldRequest builds the browser's POST for a USERFIELD_TYPE placement: the page
// of [Server.AppPageRequest] with PLACEMENT=USERFIELD_TYPE and PLACEMENT_OPTIONS as
// Bitrix24 builds them (MODE, ENTITY_ID, FIELD_NAME, ENTITY_VALUE_ID, VALUE, MULTIPLE,
// MANDATORY, XML_ID, and ENTITY_DATA for CRM entities).
func (s *Server) UserFieldRequest(ctx context.Context, handlerURL string, o UserFieldOptions) (*http.Request, error) {
	if o.Mode == "" {
		o.Mode = "view"
	}
	if o.EntityID == "" {
		o.EntityID = "CRM_LEAD"
	}
	if o.FieldName == "" {
		o.FieldName = "UF_CRM_FIELD"
	}
	opts := newOmap()
	opts.set("MODE", o.Mode)
	opts.set("ENTITY_ID", o.EntityID)
	opts.set("FIELD_NAME", o.FieldName)
	var id any = o.EntityValueID
	if o.EntityValueIDString {
		id = strconv.Itoa(o.EntityValueID)
	}
	opts.set("ENTITY_VALUE_ID", id)
	switch {
	case o.Multiple && len(o.Values) == 0:
		opts.set("VALUE", []any{nil})
	case o.Multiple:
		opts.set("VALUE", stringList(o.Values))
	case len(o.Values) == 0:
		opts.set("VALUE", nil)
	default:
		opts.set("VALUE", o.Values[0])
	}
	opts.set("MULTIPLE", yn(o.Multiple))
	opts.set("MANDATORY", yn(o.Mandatory))
	if o.XMLID == "" {
		opts.set("XML_ID", nil)
	} else {
		opts.set("XML_ID", o.XMLID)
	}
	if types := map[string]int{"CRM_LEAD": 1, "CRM_DEAL": 2, "CRM_CONTACT": 3, "CRM_COMPANY": 4}; types[o.EntityID] != 0 {
		data := newOmap()
		data.set("entityTypeId", types[o.EntityID])
		data.set("entityId", id)
		data.set("module", "crm")
		opts.set("ENTITY_DATA", data)
	}
	page := o.Page
	page.Placement = "USERFIELD_TYPE"
	page.PlacementOptions = opts
	return s.AppPageRequest(ctx, handlerURL, page)
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// methodUserAdmin is user.admin: whether the calling user is a portal administrator.
func methodUserAdmin(c *callCtx) (any, *navData, *restError) {
	return c.s.isAdmin(c.auth), nil, nil
}
