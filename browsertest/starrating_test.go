package browsertest

import (
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/b24go/bitrix24/examples/fieldtype-app/starrating"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -docs writes the screenshots of the star rating to ../docs (go test ./browsertest
// -run TestStarRating -args -docs).
var writeDocs = flag.Bool("docs", false, "write the star rating's screenshots to ../docs")

// ratingRoutes serves the example application itself.
func ratingRoutes(app *bitrix24.App, appURL string) http.Handler {
	return starrating.New(app, appURL, io.Discard).Routes()
}

func TestStarRatingFourthStarSavesFour(t *testing.T) {
	f := newFixture(t, ratingRoutes)
	b := f.browser
	f.install()
	const field = "UF_CRM_RATING"

	// User 7 opens a new lead: the edit page, no rating yet.
	edit := card{Title: "New lead", Label: "Star rating (edit: click a star)", FieldName: field, Mode: "edit"}
	f.show(edit, f.fieldRequest(bitrix24test.UserFieldOptions{Mode: "edit", FieldName: field, Page: bitrix24test.PageOptions{UserID: 7}}))
	waitWidget(b)
	require.Equal(t, "☆☆☆☆☆", inFrame[string](b, "document.querySelector('.stars').textContent"))
	require.Empty(t, setValueCalls(b), "nothing proposed for a user who never rated")

	b.click(".stars button:nth-child(4)")
	b.waitTop("portal.messages.some(function (m) { return m.method === 'setValue'; })")
	calls := setValueCalls(b)
	require.Len(t, calls, 1)
	assert.Equal(t, "4", calls[0].Params, "the fourth star sends \"4\"")
	assert.Equal(t, "4", inFrame[string](b, "b24field.value"))
	assert.Equal(t, "★★★★☆", inFrame[string](b, "document.querySelector('.stars').textContent"), "the widget shows the pick")
	saved := portalValues(b, field)
	assert.Equal(t, []string{"4"}, saved, "the card form holds 4")
	editPNG := b.screenshot()

	// The user saved the lead: the next request, a view page, carries what the card held.
	f.show(card{Title: "Lead 12", Label: "Star rating (view)", FieldName: field, Mode: "view"},
		f.fieldRequest(bitrix24test.UserFieldOptions{Mode: "view", FieldName: field, EntityValueID: 12, Values: saved, Page: bitrix24test.PageOptions{UserID: 7}}))
	waitWidget(b)
	assert.Equal(t, "★★★★☆", inFrame[string](b, "document.querySelector('.stars').textContent"), "the view shows 4 stars")
	assert.Empty(t, setValueCalls(b))
	viewPNG := b.screenshot()
	assert.Empty(t, b.uncaught())

	if *writeDocs {
		for name, png := range map[string][]byte{"fieldtype-rating-edit.png": editPNG, "fieldtype-rating-view.png": viewPNG} {
			require.NoError(t, os.WriteFile(filepath.Join("..", "docs", name), png, 0o644))
		}
	}
}

func TestStarRatingProposesTheLastRating(t *testing.T) {
	f := newFixture(t, ratingRoutes)
	b := f.browser
	f.install()
	const field = "UF_CRM_RATING"
	// User 7 viewed a lead he rated 2: the example remembers it.
	f.show(card{Title: "Lead 12", Label: "Star rating", FieldName: field, Mode: "view"},
		f.fieldRequest(bitrix24test.UserFieldOptions{Mode: "view", FieldName: field, EntityValueID: 12, Values: []string{"2"}, Page: bitrix24test.PageOptions{UserID: 7}}))
	waitWidget(b)

	// On a new lead the edit page proposes 2 at once, through setValue on load.
	f.show(card{Title: "New lead", Label: "Star rating", FieldName: field, Mode: "edit"},
		f.fieldRequest(bitrix24test.UserFieldOptions{Mode: "edit", FieldName: field, Page: bitrix24test.PageOptions{UserID: 7}}))
	waitWidget(b)
	b.waitTop("portal.messages.some(function (m) { return m.method === 'setValue'; })")
	calls := setValueCalls(b)
	require.Len(t, calls, 1)
	assert.Equal(t, "2", calls[0].Params)
	assert.Equal(t, []string{"2"}, portalValues(b, field))
	assert.Equal(t, "★★☆☆☆", inFrame[string](b, "document.querySelector('.stars').textContent"))
}
