package bitrix24test

// methodAppInfo is the portal's own app.info (CRestProvider::appInfo), a _global method
// of /rest/ beside the authorization server's (oauth_appinfo.go): the calling
// application's ID, CODE, VERSION, STATUS, INSTALLED, PAYMENT_EXPIRED, DAYS, LANGUAGE_ID
// and LICENSE, plus LICENSE_TYPE and LICENSE_FAMILY as the cloud adds them (docs
// example, api-reference/common/system/app-info.md). A webhook has no application but a
// password id: the source answers its SCOPE and the LICENSE (b24phpsdk's integration
// test reads LICENSE through a webhook). Any other caller is ACCESS_DENIED "Application
// context required".
func methodAppInfo(c *callCtx) (any, *navData, *restError) {
	if c.auth.kind == "webhook" {
		m := newOmap()
		m.set("SCOPE", c.auth.scopes())
		m.set("LICENSE", "en_project")
		return m, nil, nil
	}
	if c.auth.kind != "oauth" || c.auth.app == nil {
		return nil, nil, accessDenied("Application context required")
	}
	a := c.auth.app
	m := newOmap()
	m.set("ID", a.id)
	m.set("CODE", a.clientID)
	m.set("VERSION", 1)
	m.set("STATUS", "L")
	m.set("INSTALLED", true)
	m.set("PAYMENT_EXPIRED", "N")
	m.set("DAYS", nil)
	m.set("LANGUAGE_ID", "en")
	m.set("LICENSE", "en_project")
	m.set("LICENSE_TYPE", "project")
	m.set("LICENSE_FAMILY", "project")
	return m, nil, nil
}
