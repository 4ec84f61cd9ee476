package bitrix24

// clientOf returns the client a service calls through. The services of a Client that no
// constructor built are nil (var c Client; c.UserOption.Set(…)): their methods answer
// ErrValidation instead of panicking.
func clientOf(s *service) (*Client, error) {
	if s == nil || s.c == nil {
		return nil, invalid("Client", "must be created with NewWebhookClient or NewOAuthClient")
	}
	return s.c, nil
}
