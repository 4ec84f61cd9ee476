package browsertest

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"strings"
	"testing"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// editor is a field type's edit widget: one text input per value, each change sends
// every input's value (a list for a multiple field, one string for a single one).
var editor = template.Must(template.New("edit").Parse(
	`{{if .Multiple}}{{range .Values}}<input class="v" value="{{.}}" onchange="b24field.setValue(Array.prototype.map.call(document.querySelectorAll('input.v'), function (i) { return i.value; }))">{{end}}` +
		`{{else}}<input id="v" value="{{.Value}}" onchange="b24field.setValue(this.value)">{{end}}`))

// fieldRoutes serves a FieldTypeHandler at POST /field: the library's default view
// (the values as text) and the editor above.
func fieldRoutes(app *bitrix24.App, _ string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /field", &bitrix24.FieldTypeHandler{
		App:  app,
		View: bitrix24.PlainValues, // the values as text, escaped
		Edit: func(_ context.Context, f *bitrix24.FieldRequest) (template.HTML, error) {
			var b bytes.Buffer
			err := editor.Execute(&b, map[string]any{"Multiple": f.Field.Multiple, "Values": f.Field.Values, "Value": f.Field.Value()})
			return template.HTML(b.String()), err
		},
	})
	return mux
}

// stubCall is one call the BX24 stub recorded.
type stubCall struct {
	Method  string `json:"method"`
	Command string `json:"command"`
	Params  any    `json:"params"`
}

// setValueCalls are the frame's BX24.placement.call('setValue', ...) calls.
func setValueCalls(b *browser) []stubCall {
	b.t.Helper()
	var out []stubCall
	for _, c := range inFrame[[]stubCall](b, "window.__bx24stub ? __bx24stub.calls : []") {
		if c.Method == "placement.call" && c.Command == "setValue" {
			out = append(out, c)
		}
	}
	return out
}

// portalValues are the values the portal's card form would save (its hidden inputs).
func portalValues(b *browser, field string) []string {
	b.t.Helper()
	return inTop[[]string](b, `Array.prototype.map.call(document.querySelectorAll('#card input[name="`+field+`"]'), function (i) { return i.value; })`)
}

// waitWidget waits until the handler's page is up and has told the portal its size
// (BX24.init answered, BX24.fitWindow called).
func waitWidget(b *browser) {
	b.t.Helper()
	b.waitTop("portal.messages.some(function (m) { return m.method === 'resizeWindow'; })")
}

// frameText is the text of the frame's body, without the template's line breaks
// around it.
func frameText(b *browser) string {
	b.t.Helper()
	return strings.Trim(inFrame[string](b, "document.body.textContent"), "\n")
}

func TestFieldViewShowsTheStoredValue(t *testing.T) {
	f := newFixture(t, fieldRoutes)
	b := f.browser

	f.show(card{Title: "Lead 12", Label: "Rating", FieldName: "UF_CRM_RATING", Mode: "view"},
		f.fieldRequest(bitrix24test.UserFieldOptions{Mode: "view", FieldName: "UF_CRM_RATING", EntityValueID: 12, Values: []string{"42 apples"}}))
	waitWidget(b)
	assert.Equal(t, "42 apples", frameText(b))
	assert.Equal(t, "view", inFrame[string](b, "b24field.mode"))
	assert.Equal(t, "42 apples", inFrame[string](b, "b24field.value"))
	assert.Empty(t, setValueCalls(b), "a view page must not change the value")
	assert.Contains(t, inFrame[[]stubCall](b, "__bx24stub.calls"), stubCall{Method: "fitWindow"})

	f.show(card{Title: "Lead 13", Label: "Tags", FieldName: "UF_CRM_TAGS", Mode: "view"},
		f.fieldRequest(bitrix24test.UserFieldOptions{Mode: "view", FieldName: "UF_CRM_TAGS", EntityValueID: 13, Multiple: true, Values: []string{"red", "green"}}))
	waitWidget(b)
	assert.Equal(t, "redgreen", frameText(b), "one value per line (<br> between)")
	assert.Equal(t, 1, inFrame[int](b, "document.body.querySelectorAll('br').length"))
	assert.Equal(t, []string{"red", "green"}, inFrame[[]string](b, "b24field.values"))
	assert.Empty(t, b.uncaught())
}

func TestFieldEditSingleSendsOneString(t *testing.T) {
	f := newFixture(t, fieldRoutes)
	b := f.browser
	f.show(card{Title: "Lead 12", Label: "Comment", FieldName: "UF_CRM_COMMENT", Mode: "edit", Values: []string{"old"}},
		f.fieldRequest(bitrix24test.UserFieldOptions{Mode: "edit", FieldName: "UF_CRM_COMMENT", EntityValueID: 12, Values: []string{"old"}}))
	waitWidget(b)
	require.Equal(t, "old", inFrame[string](b, "document.getElementById('v').value"))
	require.Equal(t, "old", inFrame[string](b, "b24field.value"))

	b.typeInto("#v", "new: value")
	b.waitTop("portal.messages.some(function (m) { return m.method === 'setValue'; })")

	calls := setValueCalls(b)
	require.Len(t, calls, 1)
	assert.Equal(t, "new: value", calls[0].Params, "a single field's setValue takes one string")
	assert.Equal(t, "new: value", inFrame[string](b, "b24field.value"))
	assert.Equal(t, []string{"new: value"}, inFrame[[]string](b, "b24field.values"))
	assert.Equal(t, []string{"new: value"}, portalValues(b, "UF_CRM_COMMENT"), "the card form holds the new value")
	assert.Empty(t, b.uncaught())
}

func TestFieldEditMultipleSendsAList(t *testing.T) {
	f := newFixture(t, fieldRoutes)
	b := f.browser
	f.show(card{Title: "Lead 13", Label: "Phones", FieldName: "UF_CRM_PHONES", Mode: "edit", Values: []string{"+15550100", "+15550101"}},
		f.fieldRequest(bitrix24test.UserFieldOptions{Mode: "edit", FieldName: "UF_CRM_PHONES", EntityValueID: 13,
			Multiple: true, Values: []string{"+15550100", "+15550101"}}))
	waitWidget(b)
	require.Equal(t, []string{"+15550100", "+15550101"}, inFrame[[]string](b, "b24field.values"))

	b.typeInto("input.v:nth-of-type(2)", "+15550199")
	b.waitTop("portal.messages.some(function (m) { return m.method === 'setValue'; })")

	calls := setValueCalls(b)
	require.Len(t, calls, 1)
	assert.Equal(t, []any{"+15550100", "+15550199"}, calls[0].Params, "a multiple field's setValue takes a list")
	assert.Equal(t, []string{"+15550100", "+15550199"}, inFrame[[]string](b, "b24field.values"))
	assert.Equal(t, "+15550100", inFrame[string](b, "b24field.value"))
	assert.Equal(t, []string{"+15550100", "+15550199"}, portalValues(b, "UF_CRM_PHONES"))
	assert.Empty(t, b.uncaught())
}

// hostile are values that break out of a string, a script or an attribute when a page
// pastes them unescaped. Each sets window.__pwned or asks https://pwned.invalid/ (which
// the browser refuses, failing the test) if it runs.
var hostile = []string{
	`</script><script>window.__pwned = 1; fetch("https://pwned.invalid/script")</script>`,
	`"; window.__pwned = 1; var x = "`,
	`'; window.__pwned = 1; var y = '`,
	"line\u2028separator\u2029paragraph\"; window.__pwned = 1; //",
	`<img src="https://pwned.invalid/img.png" onerror="window.__pwned = 1">`,
	`<!--<script>window.__pwned = 1</script>-->`,
}

func TestFieldHostileValuesRenderAsText(t *testing.T) {
	f := newFixture(t, fieldRoutes)
	b := f.browser
	for i, v := range hostile {
		for _, mode := range []string{"view", "edit"} {
			req := f.fieldRequest(bitrix24test.UserFieldOptions{Mode: mode, FieldName: "UF_CRM_NOTE", EntityValueID: i + 1, Values: []string{v},
				Page: bitrix24test.PageOptions{Lang: `en"><img src=x onerror="window.__pwned = 1">`}})
			f.show(card{Title: "Lead", Label: "Note", FieldName: "UF_CRM_NOTE", Mode: mode, Values: []string{v}}, req)
			waitWidget(b)
			if mode == "view" {
				assert.Equal(t, v, frameText(b), "value %d shows as text", i)
			} else {
				assert.Equal(t, v, inFrame[string](b, "document.getElementById('v').value"), "value %d fills the input", i)
			}
			assert.Equal(t, v, inFrame[string](b, "b24field.value"), "value %d reaches the script intact", i)
			assert.Equal(t, 0, inFrame[int](b, "document.querySelectorAll('img').length"), "value %d made an element", i)
			assert.Equal(t, 2, inFrame[int](b, "document.scripts.length"), "value %d made a script (BX24 and the page's own only)", i)
			assert.False(t, inFrame[bool](b, "'__pwned' in window"), "value %d ran a script", i)
			assert.Empty(t, setValueCalls(b), "value %d", i)
		}
	}
	assert.Empty(t, b.uncaught(), "no script failed either")
	assert.Empty(t, b.refused(), "no hostile request was even attempted")
}

func TestFieldPageFramedOnlyByTheVerifiedPortal(t *testing.T) {
	f := newFixture(t, fieldRoutes)
	b := f.browser
	c := card{Title: "Lead 12", Label: "Rating", FieldName: "UF_CRM_RATING", Mode: "view"}
	o := bitrix24test.UserFieldOptions{Mode: "view", FieldName: "UF_CRM_RATING", EntityValueID: 12, Values: []string{"5"}}

	f.show(c, f.fieldRequest(o))
	waitWidget(b)
	assert.True(t, strings.HasPrefix(b.childFrame().URL, f.appURL+"/field?"), "the portal frames the page")
	assert.Equal(t, "5", frameText(b))
	loads := b.stubLoadCount()
	require.Equal(t, 1, loads)

	// The very same genuine request, posted by a page of another origin: the browser
	// refuses to show the answer (frame-ancestors names the verified portal only).
	f.showAt(f.otherOrigin(), c, f.fieldRequest(o))
	fr := b.childFrame()
	assert.Equal(t, "chrome-error://chromewebdata/", fr.URL, "the frame shows an error page")
	assert.True(t, strings.HasPrefix(fr.UnreachableURL, f.appURL+"/field?"), "in place of %s", fr.UnreachableURL)
	assert.True(t, b.logged("frame-ancestors "+f.srv.URL), "Chromium says why: %q", b.consoleLog())
	assert.Equal(t, loads, b.stubLoadCount(), "the refused page loaded BX24")
	assert.Empty(t, inTop[[]any](b, "portal.messages"), "the refused page talked to its parent")
}

func TestFieldRefusedRequestShowsNoWidget(t *testing.T) {
	f := newFixture(t, fieldRoutes)
	b := f.browser
	c := card{Title: "Lead 12", Label: "Comment", FieldName: "UF_CRM_COMMENT", Mode: "edit", Values: []string{"kept"}}
	o := bitrix24test.UserFieldOptions{Mode: "edit", FieldName: "UF_CRM_COMMENT", EntityValueID: 12, Values: []string{"kept"}}
	for name, req := range map[string]*http.Request{
		"forged AUTH_ID": forgeAuth(t, f.fieldRequest(o), "f0rged0000000000000000000000000000000000000000000000000000000000"),
		"user without access": f.fieldRequest(bitrix24test.UserFieldOptions{Mode: "edit", FieldName: "UF_CRM_COMMENT", EntityValueID: 12,
			Values: []string{"kept"}, Page: bitrix24test.PageOptions{UserID: 9, NoAccess: true}}),
	} {
		f.show(c, req)
		assert.True(t, strings.HasPrefix(b.childFrame().URL, f.appURL+"/field?"), name)
		assert.Equal(t, "Unauthorized", strings.TrimSpace(inFrame[string](b, "document.body.textContent")), name)
		assert.Equal(t, "undefined", inFrame[string](b, "typeof window.b24field"), name)
		assert.Equal(t, 0, inFrame[int](b, "document.querySelectorAll('input, button, script').length"), name)
		assert.Empty(t, inTop[[]any](b, "portal.messages"), name)
		assert.Equal(t, []string{"kept"}, portalValues(b, "UF_CRM_COMMENT"), "%s: the card keeps its value", name)
	}
	assert.Equal(t, 0, b.stubLoadCount(), "a refused page loads nothing")
}
