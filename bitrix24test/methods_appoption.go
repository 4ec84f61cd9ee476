package bitrix24test

// methodAppOptionSet is CRestProvider::appOptionSet: application context, the
// options/flat rule, then administrator only.
func methodAppOptionSet(c *callCtx) (any, *navData, *restError) {
	opts, order, err := optionsToSet(c)
	if err != nil {
		return nil, nil, err
	}
	if !c.s.isAdmin(c.auth) {
		return nil, nil, accessDenied("Administrator authorization required")
	}
	c.s.appOptions[c.auth.clientID()] = mergeOptions(c.s.appOptions[c.auth.clientID()], opts, order)
	return true, nil, nil
}

// methodAppOptionGet is CRestProvider::appOptionGet: any user of the application.
func methodAppOptionGet(c *callCtx) (any, *navData, *restError) {
	if err := requireAppContext(c); err != nil {
		return nil, nil, err
	}
	return optionGet(c.s.appOptions[c.auth.clientID()], c.params)
}

// AppOptions returns a copy of the options stored by application clientID.
func (s *Server) AppOptions(clientID string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return optionsCopy(s.appOptions[clientID])
}
