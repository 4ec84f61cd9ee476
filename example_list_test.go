package bitrix24_test

import (
	"context"
	"fmt"
	"log"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// Deal is the part of a crm.item.list row this code reads. bitrix24.ID takes both
// "id": 42 and "ID": "42".
type Deal struct {
	ID    bitrix24.ID `json:"id"`
	Title string      `json:"title"`
}

// Export every won deal, however many: Scan walks by ID with start=-1, so the portal
// never counts the table and every page costs the same.
func ExampleClient_Scan() {
	srv := bitrix24test.NewServer(bitrix24test.WithScope("crm"))
	defer srv.Close()
	srv.SeedCRMItems(2, 120) // deals 1..120; every third one is WON
	client, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}

	params := map[string]any{
		"entityTypeId": 2, // deals
		"select":       []string{"id", "title"},
		"filter":       map[string]any{"stageId": "WON"},
	}
	n := 0
	var last Deal
	for deal, err := range bitrix24.Rows[Deal](client.Scan(context.Background(), "crm.item.list", params)) {
		if err != nil {
			log.Fatal(err)
		}
		n++
		last = deal
	}
	fmt.Println(n, "won deals, the last:", last.ID, last.Title)
	// Output: 40 won deals, the last: 119 Item #119
}

// Page through any list method by the server's cursor, stopping early.
func ExampleClient_List() {
	srv := bitrix24test.NewServer(bitrix24test.WithScope("crm"))
	defer srv.Close()
	srv.SeedCRMItems(2, 120)
	client, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}

	var titles []string
	for deal, err := range bitrix24.Rows[Deal](client.List(context.Background(), "crm.item.list",
		map[string]any{"entityTypeId": 2, "order": map[string]string{"id": "DESC"}})) {
		if err != nil {
			log.Fatal(err)
		}
		titles = append(titles, deal.Title)
		if len(titles) == 3 {
			break // no further page is requested
		}
	}
	fmt.Println(titles, "in", srv.Requests("crm.item.list"), "request")
	// Output: [Item #120 Item #119 Item #118] in 1 request
}

// Export a large table at the portal's limit: 50 pages (2,500 rows) in one batch
// request, the ID cursor chained from page to page on the server.
func ExampleWithPagesPerRequest() {
	srv := bitrix24test.NewServer(bitrix24test.WithScope("crm"))
	defer srv.Close()
	srv.SeedCRMItems(2, 10_000)
	client, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}

	params := map[string]any{"entityTypeId": 2, "select": []string{"id", "title"}}
	n := 0
	for _, err := range client.Scan(context.Background(), "crm.item.list", params, bitrix24.WithPagesPerRequest(50)) {
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	fmt.Println(n, "rows in", srv.Requests("batch"), "requests")
	// Output: 10000 rows in 5 requests
}
