package bitrix24_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/b24go/bitrix24"
)

// The operating-time budget is on by default: a method near its 480 s of server time
// per 10 minutes waits for its reset. A ctx that cannot wait that long gets
// ErrOperationTimeLimit at once, with the reset time, and nothing is sent.
func ExampleWithOperatingBudget() {
	client, srv := newFakeClient()
	defer srv.Close()
	srv.SetMethodCost("user.option.get", 250*time.Second) // two calls use 500 s

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 1; i <= 3; i++ {
		var opts map[string]any
		err := client.Call(ctx, "user.option.get", nil, &opts)
		var apiErr *bitrix24.APIError
		switch {
		case errors.As(err, &apiErr) && errors.Is(err, bitrix24.ErrOperationTimeLimit):
			fmt.Printf("call %d: held until the reset, %v away\n", i, time.Until(apiErr.ResetAt).Round(10*time.Minute))
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Printf("call %d: ok, %v used\n", i, client.Operating("user.option.get").Used.Round(time.Second))
		}
	}
	fmt.Println("portal refusals:", srv.OperationTimeLimitRefusals())
	// Output:
	// call 1: ok, 4m10s used
	// call 2: ok, 8m20s used
	// call 3: held until the reset, 10m0s away
	// portal refusals: 0
}

// WithOperatingWait sends a call again after the reset when OPERATION_TIME_LIMIT
// arrives all the same (another application's process used the budget, or the budget is
// off as here). The call was refused before it ran, so any method may be repeated; ctx
// still bounds the whole call.
func ExampleWithOperatingWait() {
	client, err := bitrix24.NewWebhookClient(os.Getenv("BITRIX24_WEBHOOK_URL"),
		bitrix24.WithOperatingBudget(0), bitrix24.WithOperatingWait(10*time.Minute))
	if err != nil {
		log.Print(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := client.Call(ctx, "crm.item.add", map[string]any{"entityTypeId": 2, "fields": map[string]any{"title": "Deal"}}, nil); err != nil {
		log.Print(err)
	}
}

// Operating tells what the portal last reported of a method's operating time.
func ExampleClient_Operating() {
	client, srv := newFakeClient()
	defer srv.Close()
	srv.SetMethodCost("user.option.get", 30*time.Second)
	if err := client.Call(context.Background(), "user.option.get", nil, nil); err != nil {
		fmt.Println(err)
		return
	}
	op := client.Operating("USER.OPTION.GET") // names compare case-insensitively
	fmt.Println(op.Used.Round(time.Second), !op.ResetAt.IsZero())
	// Output: 30s true
}
