package bitrix24

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultAuthServers are the Bitrix24 authorization servers an App trusts when
// App.AuthServers is empty (REST bases, as server_endpoint names them).
var DefaultAuthServers = []string{"https://oauth.bitrix.info/rest/", "https://oauth.bitrix24.tech/rest/"}

// normEndpoint makes REST bases comparable: scheme and host lower case, one trailing
// slash. It returns "" for anything that is not an absolute http(s) URL without user
// info, query or fragment.
func normEndpoint(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery ||
		(u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	path := strings.TrimRight(u.EscapedPath(), "/") + "/"
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + path
}

// defaultServer is the authorization server of requests and events that name none
// (older portals): App.ServerEndpoint, else [DefaultServerEndpoint].
func (a *App) defaultServer() string {
	if a.ServerEndpoint != "" {
		return a.ServerEndpoint
	}
	return DefaultServerEndpoint
}

// trustedServers are App.AuthServers (or [DefaultAuthServers]) and App.ServerEndpoint.
func (a *App) trustedServers() []string {
	list := a.AuthServers
	if len(list) == 0 {
		list = DefaultAuthServers
	}
	if a.ServerEndpoint != "" {
		list = append(append([]string(nil), list...), a.ServerEndpoint)
	}
	return list
}

// serverFor returns the trusted authorization server that named designates ("" is the
// default one, for older portals), as the App spells it. A server the App does not trust
// is refused with an error matching [ErrNotVerified]: neither app.info nor a token ever
// goes to a host that a request names.
func (a *App) serverFor(named string) (string, error) {
	if strings.TrimSpace(named) == "" {
		return a.defaultServer(), nil
	}
	want := normEndpoint(named)
	if want != "" {
		for _, s := range a.trustedServers() {
			if normEndpoint(s) == want {
				return s, nil
			}
		}
	}
	return "", fmt.Errorf("%w: the request names an authorization server this App does not trust (App.AuthServers)", ErrNotVerified)
}

// tokenURLFor is the token endpoint of the pairs that server issued: App.TokenURL for
// the App's own server (when set), else server minus "rest/" plus "oauth/token/".
func (a *App) tokenURLFor(server string) string {
	if server == "" || normEndpoint(server) == normEndpoint(a.defaultServer()) {
		if a.TokenURL != "" {
			return a.TokenURL
		}
		if server == "" {
			return DefaultTokenURL
		}
	}
	return tokenURLOf(server)
}

// tokenURLOf derives a token endpoint from a REST base: "https://oauth.bitrix.info/rest/"
// gives "https://oauth.bitrix.info/oauth/token/".
func tokenURLOf(server string) string {
	base := strings.TrimRight(server, "/")
	base = strings.TrimSuffix(base, "/rest")
	return base + "/oauth/token/"
}

// defaultTokenURLFor is the token endpoint of a client whose configuration names none:
// that of the pair's own server when it is one of [DefaultAuthServers], else
// [DefaultTokenURL].
func defaultTokenURLFor(serverEndpoint string) string {
	if want := normEndpoint(serverEndpoint); want != "" {
		for _, s := range DefaultAuthServers {
			if normEndpoint(s) == want {
				return tokenURLOf(s)
			}
		}
	}
	return DefaultTokenURL
}
