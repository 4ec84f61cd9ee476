package bitrix24test

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ufType is a b_rest_placement row with PLACEMENT='USERFIELD_TYPE'.
type ufType struct {
	clientID    string
	id          string // ADDITIONAL: the lower-cased USER_TYPE_ID
	handler     string
	title       string
	description any // string, or nil when never given
	height      int
}

// Texts of the ORM errors the fake reports after "Error: " (the real text comes from
// the portal's language files; match on the "Error: " prefix).
const (
	ormTitleTooLong  = `Field "TITLE" must be no longer than 255 characters.`
	ormTitleRequired = `Field "TITLE" is required.`
	maxTitleLen      = 255
	ufListLimit      = 50 // IRestService::LIST_LIMIT
)

// ufPermission is UserFieldType::checkPermission.
func ufPermission(c *callCtx) *restError {
	if c.auth.kind != "oauth" {
		return wrongAuthType("Application context required")
	}
	if !c.s.isAdmin(c.auth) {
		return accessDenied("")
	}
	return nil
}

// upperKeys is array_change_key_case($params, CASE_UPPER).
func upperKeys(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for _, k := range sortedKeys(p) {
		out[strings.ToUpper(k)] = p[k]
	}
	return out
}

// strParam converts a scalar parameter to a string; arrays are a PHP TypeError in fn.
func strParam(v any, fn string) (string, *restError) {
	if v == nil {
		return "", nil
	}
	if s, ok := scalarString(v); ok {
		return s, nil
	}
	return "", phpFatal(fn + "(): Argument #1 must be of type string, " + phpType(v) + " given")
}

// ufTypeID reads USER_TYPE_ID: ArgumentNullException when empty, lower-cased.
func ufTypeID(p map[string]any) (string, *restError) {
	v := p["USER_TYPE_ID"]
	if phpEmpty(v) {
		return "", argNull("USER_TYPE_ID")
	}
	s, err := strParam(v, "mb_strtolower")
	if err != nil {
		return "", err
	}
	return strings.ToLower(s), nil
}

// checkCallback is HandlerHelper::checkCallback: the handler must parse as a URL whose
// host contains a '.' after its first character, with scheme http or https (compared
// as written, case-sensitively, like PHP's parse_url result).
func checkCallback(h string) *restError {
	u, err := url.Parse(h)
	if err != nil || u.Hostname() == "" || strings.IndexByte(u.Hostname(), '.') <= 0 {
		return newErr(http.StatusBadRequest, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")
	}
	scheme := ""
	if u.Scheme != "" && len(h) >= len(u.Scheme) {
		scheme = h[:len(u.Scheme)]
	}
	if scheme != "http" && scheme != "https" {
		return newErr(http.StatusBadRequest, "ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol")
	}
	return nil
}

// ufHandler reads and checks HANDLER when it is not empty; ok reports it was given.
func ufHandler(p map[string]any) (string, bool, *restError) {
	v := p["HANDLER"]
	if phpEmpty(v) {
		return "", false, nil
	}
	h, err := strParam(v, "parse_url")
	if err != nil {
		return "", false, err
	}
	if err := checkCallback(h); err != nil {
		return "", false, err
	}
	return h, true, nil
}

// ufHeight keeps only OPTIONS.height (key case-insensitive), cast to int, when truthy.
func ufHeight(v any) int {
	m, ok := v.(map[string]any)
	if !ok {
		return 0
	}
	for _, k := range sortedKeys(m) {
		if strings.EqualFold(k, "height") {
			return phpIntval(m[k])
		}
	}
	return 0
}

// ufLangError checks the language rows Lang::fillCompatibility would write: LANG_ALL
// entries when given, else one row from TITLE (titleGiven false: TITLE null).
func ufLangError(p map[string]any, title string, titleGiven bool) *restError {
	if la, ok := p["LANG_ALL"].(map[string]any); ok && len(la) > 0 {
		for _, lang := range sortedKeys(la) {
			row, _ := la[lang].(map[string]any)
			t := ""
			for k, v := range row {
				if strings.EqualFold(k, "TITLE") {
					t, _ = scalarString(v)
				}
			}
			t = strings.TrimSpace(t)
			if t == "" {
				return newErr(http.StatusBadRequest, "ERROR_CORE", "Error: "+ormTitleRequired)
			}
			if utf8.RuneCountInString(t) > maxTitleLen {
				return newErr(http.StatusBadRequest, "ERROR_CORE", "Error: "+ormTitleTooLong)
			}
		}
		return nil
	}
	if !titleGiven {
		return newErr(http.StatusBadRequest, "ERROR_CORE", "Error: "+ormTitleRequired)
	}
	if utf8.RuneCountInString(title) > maxTitleLen {
		return newErr(http.StatusBadRequest, "ERROR_CORE", "Error: "+ormTitleTooLong)
	}
	return nil
}

func (s *Server) findUFType(clientID, id string) int {
	for i, t := range s.ufTypes {
		if t.clientID == clientID && t.id == id {
			return i
		}
	}
	return -1
}

// ufTarget runs what add, update and delete start with: checkPermission, then the
// upper-cased parameters and the lower-cased USER_TYPE_ID.
func ufTarget(c *callCtx) (map[string]any, string, *restError) {
	if err := ufPermission(c); err != nil {
		return nil, "", err
	}
	p := upperKeys(c.params)
	id, err := ufTypeID(p)
	if err != nil {
		return nil, "", err
	}
	return p, id, nil
}

// methodUFTAdd is UserFieldType::add.
func methodUFTAdd(c *callCtx) (any, *navData, *restError) {
	p, id, err := ufTarget(c)
	if err != nil {
		return nil, nil, err
	}
	if phpEmpty(p["HANDLER"]) {
		return nil, nil, argNull("HANDLER")
	}
	handler, _, err := ufHandler(p)
	if err != nil {
		return nil, nil, err
	}
	clientID := c.auth.clientID()
	for _, t := range c.s.ufTypes {
		if t.id == id || (t.clientID == clientID && t.handler == handler) {
			return nil, nil, newErr(http.StatusBadRequest, "ERROR_CORE", "Unable to set placement handler: Handler already binded")
		}
	}
	title, err := strParam(p["TITLE"], "trim")
	if err != nil {
		return nil, nil, err
	}
	title = strings.TrimSpace(title)
	if title == "" {
		title = id
	}
	row := &ufType{clientID: clientID, id: id, handler: handler, title: title, height: ufHeight(p["OPTIONS"])}
	if v, ok := p["DESCRIPTION"]; ok && v != nil {
		d, err := strParam(v, "trim")
		if err != nil {
			return nil, nil, err
		}
		row.description = strings.TrimSpace(d)
	}
	c.s.ufTypes = append(c.s.ufTypes, row)
	// The language rows are written after the placement row, without a rollback.
	if err := ufLangError(p, title, true); err != nil {
		return nil, nil, err
	}
	return true, nil, nil
}

// methodUFTUpdate is UserFieldType::update, including the source quirk: without TITLE
// (and LANG_ALL) the row is saved, then the language row fails with ERROR_CORE.
func methodUFTUpdate(c *callCtx) (any, *navData, *restError) {
	p, id, err := ufTarget(c)
	if err != nil {
		return nil, nil, err
	}
	handler, handlerGiven, err := ufHandler(p)
	if err != nil {
		return nil, nil, err
	}
	_, optionsGiven := p["OPTIONS"]
	titleGiven := !phpEmpty(p["TITLE"])
	descGiven := !phpEmpty(p["DESCRIPTION"])
	langGiven := !phpEmpty(p["LANG_ALL"])
	if !handlerGiven && !optionsGiven && !titleGiven && !descGiven && !langGiven {
		e := argNull("HANDLER|TITLE|DESCRIPTION")
		return nil, nil, e
	}
	i := c.s.findUFType(c.auth.clientID(), id)
	if i < 0 {
		return nil, nil, newErr(http.StatusBadRequest, "ERROR_NOT_FOUND", "User Field Type not found")
	}
	row := c.s.ufTypes[i]
	title := ""
	if titleGiven {
		t, err := strParam(p["TITLE"], "trim")
		if err != nil {
			return nil, nil, err
		}
		title = strings.TrimSpace(t)
	}
	var desc string
	if descGiven {
		d, err := strParam(p["DESCRIPTION"], "trim")
		if err != nil {
			return nil, nil, err
		}
		desc = strings.TrimSpace(d)
	}
	if handlerGiven {
		row.handler = handler
	}
	if optionsGiven {
		row.height = ufHeight(p["OPTIONS"])
	}
	if titleGiven {
		row.title = title
	}
	if descGiven {
		row.description = desc
	}
	if err := ufLangError(p, title, titleGiven); err != nil {
		return nil, nil, err
	}
	return true, nil, nil
}

// methodUFTList is UserFieldType::getList: this application's rows, 50 per page.
func methodUFTList(c *callCtx) (any, *navData, *restError) {
	if err := ufPermission(c); err != nil {
		return nil, nil, err
	}
	var rows []*ufType
	for _, t := range c.s.ufTypes {
		if t.clientID == c.auth.clientID() {
			rows = append(rows, t)
		}
	}
	offset := c.start
	if offset < 0 {
		offset = 0
	}
	items := []any{}
	for i := offset; i < len(rows) && i < offset+ufListLimit; i++ {
		t := rows[i]
		m := newOmap()
		m.set("USER_TYPE_ID", t.id)
		m.set("HANDLER", t.handler)
		m.set("TITLE", t.title)
		m.set("DESCRIPTION", t.description)
		items = append(items, m)
	}
	nav := &navData{total: len(rows)}
	if offset+len(items) < len(rows) {
		nav.hasNext, nav.next = true, offset+len(items)
	}
	return items, nav, nil
}

// methodUFTDelete is UserFieldType::delete.
func methodUFTDelete(c *callCtx) (any, *navData, *restError) {
	_, id, err := ufTarget(c)
	if err != nil {
		return nil, nil, err
	}
	i := c.s.findUFType(c.auth.clientID(), id)
	if i < 0 {
		return nil, nil, newErr(http.StatusBadRequest, "ERROR_NOT_FOUND", "User Field Type not found")
	}
	c.s.ufTypes = append(c.s.ufTypes[:i], c.s.ufTypes[i+1:]...)
	return true, nil, nil
}

// UserFieldTypeRecord is a registered user field type as the fake stores it.
type UserFieldTypeRecord struct {
	ClientID    string // the application that registered it
	UserTypeID  string // lower-cased
	Handler     string
	Title       string
	Description string // "" also when never given (the list answers null then)
	Height      int    // OPTIONS.height; 0 when not kept
}

// UserFieldTypes returns the user field types of application clientID ("" for every
// application) in registration order.
func (s *Server) UserFieldTypes(clientID string) []UserFieldTypeRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []UserFieldTypeRecord
	for _, t := range s.ufTypes {
		if clientID != "" && t.clientID != clientID {
			continue
		}
		d, _ := t.description.(string)
		out = append(out, UserFieldTypeRecord{ClientID: t.clientID, UserTypeID: t.id, Handler: t.handler,
			Title: t.title, Description: d, Height: t.height})
	}
	return out
}
