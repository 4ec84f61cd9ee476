package bitrix24test

import (
	"errors"
	"fmt"
	"strings"
)

// Seeding puts state into the portal directly, without API calls. Option values are
// stored as a JSON body would have sent them: through encoding/json, numbers as
// json.Number.

// ClientID returns the client_id of the installed application (the one of
// [Server.OAuthConfig]).
func (s *Server) ClientID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mainApp.clientID
}

// SetUserOptions stores options for portal user userID of application clientID, as
// user.option.set does: new keys are added (sorted), existing ones replaced, others
// kept. It fails for an unknown application or a value encoding/json cannot encode.
func (s *Server) SetUserOptions(clientID string, userID int, options map[string]any) error {
	return s.seedOptions("SetUserOptions", clientID, options, func(opts map[string]any) {
		s.ensureUserLocked(userID)
		key := optKey{clientID: clientID, userID: userID}
		s.userOptions[key] = mergeOptions(s.userOptions[key], opts, nil)
	})
}

// SetAppOptions stores options of application clientID, as app.option.set does.
func (s *Server) SetAppOptions(clientID string, options map[string]any) error {
	return s.seedOptions("SetAppOptions", clientID, options, func(opts map[string]any) {
		s.appOptions[clientID] = mergeOptions(s.appOptions[clientID], opts, nil)
	})
}

// seedOptions converts options and has store save them under s.mu.
func (s *Server) seedOptions(fn, clientID string, options map[string]any, store func(map[string]any)) error {
	opts, err := seedValues(options)
	if err != nil {
		return fmt.Errorf("bitrix24test: %s: %w", fn, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apps[clientID] == nil {
		return fmt.Errorf("bitrix24test: %s: unknown application %q", fn, clientID)
	}
	store(opts)
	return nil
}

// seedValues converts options to the form a JSON body gives.
func seedValues(options map[string]any) (map[string]any, error) {
	v, err := phpValue(options)
	if err != nil {
		return nil, fmt.Errorf("option values: %w", err)
	}
	m, _ := plainCopy(v).(map[string]any)
	return m, nil
}

// AddUserFieldType registers a user field type as userfieldtype.add would: t.ClientID
// must be an installed application, t.UserTypeID (lower-cased) must be free on the
// portal, t.Handler must be a URL the portal accepts; an empty Title is the id.
func (s *Server) AddUserFieldType(t UserFieldTypeRecord) error {
	id := strings.ToLower(t.UserTypeID)
	if id == "" {
		return errors.New("bitrix24test: AddUserFieldType: UserTypeID is empty")
	}
	if err := checkCallback(t.Handler); err != nil {
		return fmt.Errorf("bitrix24test: AddUserFieldType: handler %q: %s", t.Handler, err.code)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apps[t.ClientID] == nil {
		return fmt.Errorf("bitrix24test: AddUserFieldType: unknown application %q", t.ClientID)
	}
	for _, u := range s.ufTypes {
		if u.id == id {
			return fmt.Errorf("bitrix24test: AddUserFieldType: %q is taken", id)
		}
	}
	title := strings.TrimSpace(t.Title)
	if title == "" {
		title = id
	}
	row := &ufType{clientID: t.ClientID, id: id, handler: t.Handler, title: title, height: t.Height}
	if t.Description != "" {
		row.description = t.Description
	}
	s.ufTypes = append(s.ufTypes, row)
	return nil
}
