package bitrix24test

// methodAppOptionSet is CRestProvider::appOptionSet: application context, the
// options/flat rule, then administrator only.
func methodAppOptionSet(c *callCtx) (any, *navData, *restError) {
	if c.auth.clientID() == "" {
		return nil, nil, accessDenied("Application context required")
	}
	opts, err := optionsParam(c.params)
	if err != nil {
		return nil, nil, err
	}
	if !c.s.isAdmin(c.auth) {
		return nil, nil, accessDenied("Administrator authorization required")
	}
	m := c.s.appOptions[c.auth.clientID()]
	if m == nil {
		m = map[string]any{}
		c.s.appOptions[c.auth.clientID()] = m
	}
	for k, v := range opts {
		m[k] = deepCopy(v)
	}
	return true, nil, nil
}

// methodAppOptionGet is CRestProvider::appOptionGet: any user of the application.
func methodAppOptionGet(c *callCtx) (any, *navData, *restError) {
	if c.auth.clientID() == "" {
		return nil, nil, accessDenied("Application context required")
	}
	return optionGet(c.s.appOptions[c.auth.clientID()], c.params)
}

// AppOptions returns a copy of the options stored by application clientID.
func (s *Server) AppOptions(clientID string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := deepCopyMap(s.appOptions[clientID])
	if m == nil {
		m = map[string]any{}
	}
	return m
}
