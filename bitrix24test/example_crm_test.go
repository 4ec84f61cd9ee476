package bitrix24test_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/b24go/bitrix24/bitrix24test"
)

// crm.item.list pages a seeded table; with start=-1 it does not count ("total": 0) and
// charges only the rows it returns.
func ExampleServer_SeedCRMItems() {
	srv := bitrix24test.NewServer(bitrix24test.WithScope("crm"))
	defer srv.Close()
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	srv.SeedCRMItems(2, 1000) // deals 1..1000

	for _, start := range []int{100, -1} {
		body := fmt.Sprintf(`{"auth":%q,"entityTypeId":2,"select":["id"],"filter":{">id":800},"start":%d}`,
			srv.Token().AccessToken, start)
		res, err := hc.Post(srv.URL+"/rest/crm.item.list", "application/json", strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		var page struct {
			Result struct {
				Items []struct{ ID int } `json:"items"`
			} `json:"result"`
			Total int  `json:"total"`
			Next  *int `json:"next"`
		}
		_ = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		fmt.Println(start, len(page.Result.Items), page.Total, page.Next != nil)
	}
	// start=100: skip 100, return 50, count 200; start=-1: return 50. At 1 µs a row:
	fmt.Println(srv.ListTime())
	// Output:
	// 100 50 200 true
	// -1 50 0 false
	// 400µs
}
