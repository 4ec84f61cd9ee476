package bitrix24test

import (
	"errors"
	"maps"
)

// Snapshot is a saved state of a fake portal, made by [Server.Snapshot] and brought
// back by [Server.Restore].
type Snapshot struct {
	p portal
}

// Snapshot saves the portal's whole state: users, applications, webhooks, tokens (and
// which are expired or revoked), user and application options, user field types, the
// admin switches (portal deleted, apps blocked, plan), method costs, both rate
// limiters, CRM items, event bindings and the offline queue. Not saved: what the test
// set up around the portal (injected faults, custom methods) and what it observed (the
// request log and counters).
func (s *Server) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Snapshot{p: s.portal.clone()}
}

// Restore brings back the state saved in snap, which may be restored any number of
// times, also into another server (which then answers for the same applications and
// tokens). Tokens issued after the snapshot stop working.
func (s *Server) Restore(snap *Snapshot) error {
	if snap == nil {
		return errors.New("bitrix24test: Restore: nil snapshot")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.portal = snap.p.clone()
	return nil
}

// clone deep-copies the portal, keeping the links between applications, webhooks and
// tokens.
func (p *portal) clone() portal {
	out := *p
	apps := make(map[*app]*app, len(p.apps))
	out.apps = make(map[string]*app, len(p.apps))
	for id, a := range p.apps {
		na := *a
		na.grants = make(map[int]*grant, len(a.grants))
		for uid, g := range a.grants {
			ng := *g
			na.grants[uid] = &ng
		}
		apps[a] = &na
		out.apps[id] = &na
	}
	out.mainApp = apps[p.mainApp]
	hooks := make(map[*webhook]*webhook, len(p.webhooks))
	out.webhooks = make(map[string]*webhook, len(p.webhooks))
	for code, h := range p.webhooks {
		nh := *h
		hooks[h] = &nh
		out.webhooks[code] = &nh
	}
	out.mainHook = hooks[p.mainHook]
	out.access = make(map[string]*accessToken, len(p.access))
	for k, t := range p.access {
		nt := *t
		nt.app = apps[t.app]
		out.access[k] = &nt
	}
	out.refresh = make(map[string]*refreshToken, len(p.refresh))
	for k, t := range p.refresh {
		nt := *t
		nt.app = apps[t.app]
		out.refresh[k] = &nt
	}
	out.users = make(map[int]*user, len(p.users))
	for id, u := range p.users {
		nu := *u
		out.users[id] = &nu
	}
	out.userOptions = make(map[optKey]*omap, len(p.userOptions))
	for k, m := range p.userOptions {
		out.userOptions[k] = deepCopy(m).(*omap)
	}
	out.appOptions = make(map[string]*omap, len(p.appOptions))
	for k, m := range p.appOptions {
		out.appOptions[k] = deepCopy(m).(*omap)
	}
	out.ufTypes = make([]*ufType, len(p.ufTypes))
	for i, t := range p.ufTypes {
		nt := *t
		out.ufTypes[i] = &nt
	}
	out.methodCost = maps.Clone(p.methodCost)
	out.limiter = p.limiter.clone()
	out.crm = p.crm.clone()
	out.events = p.events.clone()
	return out
}
