package bitrix24_test

import (
	"context"
	"fmt"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// Two clients of one portal in one process share one budget of the portal's requests:
// the bucket every client has by default, made once and given to both.
func ExampleNewLeakyBucket() {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	bucket := bitrix24.NewLeakyBucket(bitrix24.DefaultRatePerSecond, bitrix24.DefaultBurst)
	admin := srv.NewClient(bitrix24.WithLimiter(bucket))
	worker := srv.NewClient(bitrix24.WithLimiter(bucket))
	for _, c := range []*bitrix24.Client{admin, worker} {
		var now string
		if err := c.Call(context.Background(), "server.time", nil, &now); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("both clients paced by one bucket")
	// Output: both clients paced by one bucket
}
