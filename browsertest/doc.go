// Package browsertest runs the pages of a custom field type (bitrix24.FieldTypeHandler
// and the star rating of examples/fieldtype-app) in headless Chromium, framed the way a
// portal frames them: a page on the portal's origin posts the placement form into an
// iframe, and the page's script talks to the portal through BX24.
//
// It is a module of its own so that the library gains no dependency on chromedp. The
// tests need Chromium (/usr/bin/chromium, or the path in $CHROMIUM): without it they
// skip, unless CI=true, where they fail. Nothing leaves the machine: the BX24 library
// (https://api.bitrix24.com/api/v1/) and the portal's pages are answered by the test
// through Chromium's Fetch domain, and any other request outside the loopback servers
// is refused and fails the test.
package browsertest
