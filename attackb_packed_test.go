package bitrix24_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// A method whose pages hold more rows than PageSize: the reference "[49]" of the next
// command points inside the page, so its rows would come twice; the packed walk must
// still yield each row once, in order, as the unpacked one does.
func TestAttackPackedScanPagesLongerThanFifty(t *testing.T) {
	t.Parallel()
	for _, quote := range []bool{false, true} {
		c, srv, _ := crmPortal(t, 0)
		ids := gappedIDs(500)
		serveList(srv, "vendor.long.list", ids, listShape{idField: "ID", filterField: "ID", pageSize: 70, quote: quote})
		for _, pages := range []int{1, 4, 50} {
			got, err := rowIDs(t, c.Scan(context.Background(), "vendor.long.list", nil, bitrix24.WithPagesPerRequest(pages)))
			require.NoError(t, err)
			assert.Equal(t, ids, got, "%d pages a request", pages)
		}
	}
}
