package bitrix24_test

// Benchmarks of List and Scan against bitrix24test's crm.item.list, whose cost model
// (bitrix24test/methods_crm.go) charges each page the rows the database walks: the
// offset it skips and, unless start is -1, a COUNT of every matching row. The
// "db-ms/op" and "db-us/page" metrics are that modelled time, at the fake's default
// of 1 µs a row; ns/op is the real time over HTTPS on loopback. docs/performance.md
// ("Lists") has the figures and the command.

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"testing"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// exportRows is the size of the benchmarked export.
const exportRows = 10_000

// benchCRMPortal is crmPortal without recording the requests.
func benchCRMPortal(b *testing.B) (*bitrix24.Client, *bitrix24test.Server) {
	b.Helper()
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0), bitrix24test.WithScope("crm"))
	b.Cleanup(srv.Close)
	srv.SeedCRMItems(2, exportRows)
	c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()), bitrix24.WithRateLimit(0, 0))
	if err != nil {
		b.Fatal(err)
	}
	return c, srv
}

// BenchmarkListExport exports 10,000 rows per op, by the server cursor (List) and by
// ID (Scan).
func BenchmarkListExport(b *testing.B) {
	params := map[string]any{"entityTypeId": 2}
	walks := []struct {
		name string
		walk func(*bitrix24.Client) iter.Seq2[json.RawMessage, error]
	}{
		{"list", func(c *bitrix24.Client) iter.Seq2[json.RawMessage, error] {
			return c.List(context.Background(), "crm.item.list", params)
		}},
		{"scan", func(c *bitrix24.Client) iter.Seq2[json.RawMessage, error] {
			return c.Scan(context.Background(), "crm.item.list", params)
		}},
	}
	for _, w := range walks {
		b.Run("walk="+w.name, func(b *testing.B) {
			c, srv := benchCRMPortal(b)
			requests, spent := srv.Requests("crm.item.list"), srv.ListTime()
			for b.Loop() {
				n := 0
				for _, err := range w.walk(c) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != exportRows {
					b.Fatalf("exported %d rows, want %d", n, exportRows)
				}
			}
			b.ReportMetric(float64(srv.Requests("crm.item.list")-requests)/float64(b.N), "requests/op")
			b.ReportMetric((srv.ListTime()-spent).Seconds()*1e3/float64(b.N), "db-ms/op")
		})
	}
}

// pageOffsets are the depths BenchmarkListPage fetches one page at.
var pageOffsets = []int{0, 2000, 4000, 6000, 8000, 9950}

// BenchmarkListPage fetches the page of 50 rows after offset rows, the way List asks
// for it (start = offset) and the way Scan does (start = -1, filter ">id" = the last ID
// of the previous page), to show how the cost of one page grows with its depth.
func BenchmarkListPage(b *testing.B) {
	for _, walk := range []string{"list", "scan"} {
		for _, offset := range pageOffsets {
			b.Run(fmt.Sprintf("walk=%s/offset=%d", walk, offset), func(b *testing.B) {
				c, srv := benchCRMPortal(b)
				params := map[string]any{"entityTypeId": 2, "start": offset}
				if walk == "scan" {
					params = map[string]any{"entityTypeId": 2, "start": -1, "order": map[string]string{"id": "ASC"}}
					if offset > 0 {
						params["filter"] = map[string]int{">id": offset} // ids are 1..10,000
					}
				}
				spent := srv.ListTime()
				var page struct {
					Items []struct {
						ID bitrix24.ID `json:"id"`
					} `json:"items"`
				}
				for b.Loop() {
					if err := c.Call(context.Background(), "crm.item.list", params, &page); err != nil {
						b.Fatal(err)
					}
					if len(page.Items) != bitrix24.PageSize || page.Items[0].ID != bitrix24.ID(offset+1) {
						b.Fatalf("page at %d: %d rows from %v", offset, len(page.Items), page.Items[0].ID)
					}
				}
				b.ReportMetric((srv.ListTime()-spent).Seconds()*1e6/float64(b.N), "db-us/page")
			})
		}
	}
}
