package bitrix24

import "context"

// clientOf returns the client a service calls through. The services of a Client that no
// constructor built are nil (var c Client; c.UserOption.Set(…)): their methods answer
// ErrValidation instead of panicking.
func clientOf(s *service) (*Client, error) {
	if s == nil || s.c == nil {
		return nil, errNotBuilt()
	}
	return s.c, nil
}

// errNotBuilt refuses a Client, or a service of one, that no constructor built.
func errNotBuilt() error {
	return invalid("Client", "must be created with NewWebhookClient or NewOAuthClient")
}

// write is a call that returns nothing: it needs a client, then valid input (check), then
// sends params to method.
func (s *service) write(ctx context.Context, method string, check func() error, params any) error {
	c, err := clientOf(s)
	if err != nil {
		return err
	}
	if err := check(); err != nil {
		return err
	}
	return c.Call(ctx, method, params, nil)
}
