package bitrix24

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// UserFieldTypeService manages the application's custom user-field types:
// userfieldtype.add, .update, .list and .delete. It needs an OAuth client with the
// "placement" scope and a portal administrator: through a webhook Bitrix24 answers
// WRONG_AUTH_TYPE.
type UserFieldTypeService service

// UserFieldType is a custom user-field type rendered by the application's handler.
//
// Handler is checked as the server checks it before anything is sent: an absolute URL
// whose scheme is "http" or "https" as written, in lower case (the server compares it
// case-sensitively: ERROR_UNSUPPORTED_PROTOCOL), and whose host has a dot after its first
// character ("localhost" and bare names get ERROR_WRONG_HANDLER_URL). What the client
// cannot know is left to the server: whether this application already bound the same
// URL to another type (ERROR_CORE on Add), and whether the portal can reach the handler
// at all (it is loaded by the user's browser, not checked on registration).
type UserFieldType struct {
	UserTypeID  string // USER_TYPE_ID: a-z and 0-9 only; unique on the portal
	Handler     string // HANDLER: absolute http(s) URL the portal loads in an iframe
	Title       string // TITLE
	Description string // DESCRIPTION
	Height      int    // OPTIONS.height in pixels; 0: the standard height (not returned by List)
}

// Add registers a new type (userfieldtype.add). It fails with [ErrCore] ("Unable to set
// placement handler: Handler already binded") when the id is already used on the
// portal, by any application, or when this application already bound the same Handler
// URL to another type: each type of an application needs its own handler URL.
func (s *UserFieldTypeService) Add(ctx context.Context, t UserFieldType) error {
	return (*service)(s).write(ctx, "userfieldtype.add", t.validate, t.addParams())
}

// Update replaces the handler, title, description and height of an existing type of
// this application (userfieldtype.update); Height 0 restores the standard height.
// TITLE is always sent: the server fails an update without it after a partial write.
func (s *UserFieldTypeService) Update(ctx context.Context, t UserFieldType) error {
	return (*service)(s).write(ctx, "userfieldtype.update", t.validate, t.params())
}

// List returns every type of this application, following the server's pages of 50
// (userfieldtype.list) with [Client.List]; it fails instead of looping when the paging
// does not advance. Height is not returned by the server and stays 0.
func (s *UserFieldTypeService) List(ctx context.Context) ([]UserFieldType, error) {
	if _, err := clientOf((*service)(s)); err != nil {
		return nil, err
	}
	type row struct {
		UserTypeID  string  `json:"USER_TYPE_ID"`
		Handler     string  `json:"HANDLER"`
		Title       string  `json:"TITLE"`
		Description *string `json:"DESCRIPTION"`
	}
	var all []UserFieldType
	for p, err := range Rows[row](s.c.List(ctx, "userfieldtype.list", nil)) {
		if err != nil {
			return nil, err
		}
		t := UserFieldType{UserTypeID: p.UserTypeID, Handler: p.Handler, Title: p.Title}
		if p.Description != nil {
			t.Description = *p.Description
		}
		all = append(all, t)
	}
	return all, nil
}

// Delete removes the type with the given id (userfieldtype.delete). Fields already
// created with it are left alone by the server.
func (s *UserFieldTypeService) Delete(ctx context.Context, userTypeID string) error {
	return (*service)(s).write(ctx, "userfieldtype.delete", func() error { return validateUserTypeID(userTypeID) },
		map[string]string{"USER_TYPE_ID": userTypeID})
}

func (t UserFieldType) params() map[string]any {
	return map[string]any{
		"USER_TYPE_ID": t.UserTypeID,
		"HANDLER":      t.Handler,
		"TITLE":        t.Title,
		"DESCRIPTION":  t.Description,
		"OPTIONS":      map[string]int{"height": t.Height},
	}
}

// addParams omits OPTIONS at the standard height: a new type has nothing to reset.
func (t UserFieldType) addParams() map[string]any {
	params := t.params()
	if t.Height == 0 {
		delete(params, "OPTIONS")
	}
	return params
}

// validate applies the rules of the method reference, which the server itself does not
// all check (it only lower-cases the id).
func (t UserFieldType) validate() error {
	if err := validateUserTypeID(t.UserTypeID); err != nil {
		return err
	}
	if err := validateHandler(t.Handler); err != nil {
		return err
	}
	if strings.TrimSpace(t.Title) == "" {
		return invalid("UserFieldType.Title", "is required")
	}
	if t.Height < 0 {
		return invalid("UserFieldType.Height", "must not be negative")
	}
	return nil
}

func validateUserTypeID(id string) error {
	const field = "UserFieldType.UserTypeID"
	if id == "" {
		return invalid(field, "is required")
	}
	for i := 0; i < len(id); i++ {
		if ch := id[i]; !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9') {
			return invalid(field, fmt.Sprintf("%q must match ^[a-z0-9]+$", id))
		}
	}
	return nil
}

// validateHandler is the server's HandlerHelper::checkCallback (reference §6.2): the
// URL's host must have a '.' after its first character, and its scheme, as written,
// must be "http" or "https". url.Parse lower-cases the scheme, so it is read from the
// text itself.
func validateHandler(handler string) error {
	return validateHandlerURL("UserFieldType.Handler", handler)
}

// validateHandlerURL is validateHandler for any field holding a handler URL.
func validateHandlerURL(field, handler string) error {
	if handler == "" {
		return invalid(field, "is required")
	}
	u, err := url.Parse(handler)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return invalid(field, "must be an absolute http or https URL with a host")
	}
	if scheme := handler[:len(u.Scheme)]; scheme != "http" && scheme != "https" {
		return invalid(field, fmt.Sprintf("scheme %q must be http or https, in lower case: the server compares it as written (ERROR_UNSUPPORTED_PROTOCOL)", scheme))
	}
	if strings.IndexByte(u.Hostname(), '.') <= 0 {
		return invalid(field, fmt.Sprintf("host %q must have a dot after its first character, like example.com: the server refuses local and bare names (ERROR_WRONG_HANDLER_URL)", u.Hostname()))
	}
	return nil
}

// AddCommand is the batch form of [UserFieldTypeService.Add], validated the same way.
func (s *UserFieldTypeService) AddCommand(key string, t UserFieldType) (BatchCommand, error) {
	if err := t.validate(); err != nil {
		return BatchCommand{}, err
	}
	return BatchCommand{Key: key, Method: "userfieldtype.add", Params: t.addParams()}, nil
}

// UpdateCommand is the batch form of [UserFieldTypeService.Update], validated the same way.
func (s *UserFieldTypeService) UpdateCommand(key string, t UserFieldType) (BatchCommand, error) {
	if err := t.validate(); err != nil {
		return BatchCommand{}, err
	}
	return BatchCommand{Key: key, Method: "userfieldtype.update", Params: t.params()}, nil
}

// DeleteCommand is the batch form of [UserFieldTypeService.Delete].
func (s *UserFieldTypeService) DeleteCommand(key, userTypeID string) (BatchCommand, error) {
	if err := validateUserTypeID(userTypeID); err != nil {
		return BatchCommand{}, err
	}
	return BatchCommand{Key: key, Method: "userfieldtype.delete", Params: map[string]string{"USER_TYPE_ID": userTypeID}}, nil
}
