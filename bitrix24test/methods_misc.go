package bitrix24test

import (
	"sort"
	"strconv"
	"strings"
)

// allScopes is what `scope` with FULL lists.
var allScopes = []string{"placement", "user", "user_basic", "crm", "task", "im", "department", "entity"}

// methodScope is CRestProvider::scopeList: the caller's scopes, or every scope with FULL.
func methodScope(c *callCtx) (any, *navData, *restError) {
	if phpTruthy(upperKeys(c.params)["FULL"]) {
		return stringList(allScopes), nil, nil
	}
	return stringList(c.auth.scopes()), nil, nil
}

// methodMethods is CRestProvider::methodsList for the methods the fake implements.
func methodMethods(c *callCtx) (any, *navData, *restError) {
	p := upperKeys(c.params)
	want, full := map[string]bool{}, false
	if v, ok := p["SCOPE"]; ok && v != nil {
		s, _ := scalarString(v)
		if s == "" {
			want[""] = true
		} else {
			want[s] = true
		}
	} else if phpTruthy(p["FULL"]) {
		full = true
	} else {
		want[""] = true
		for _, sc := range c.auth.scopes() {
			want[sc] = true
		}
	}
	var names []string
	for name, def := range c.s.methods() {
		if full || want[def.scope] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return stringList(names), nil, nil
}

// methodServerTime is CRestProvider::getServerTime: date('c').
func methodServerTime(c *callCtx) (any, *navData, *restError) {
	return c.s.cfg.now().Format("2006-01-02T15:04:05-07:00"), nil, nil
}

// methodProfile is CRestProvider::getProfile for the fake's users.
func methodProfile(c *callCtx) (any, *navData, *restError) {
	m := newOmap()
	m.set("ID", strconv.Itoa(c.auth.userID))
	m.set("ADMIN", c.s.isAdmin(c.auth))
	m.set("NAME", "User")
	m.set("LAST_NAME", strings.TrimSpace("No. "+strconv.Itoa(c.auth.userID)))
	m.set("PERSONAL_GENDER", "")
	m.set("TIME_ZONE", "")
	return m, nil, nil
}

func stringList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
