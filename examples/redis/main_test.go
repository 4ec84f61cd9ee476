package main

import (
	"context"
	"testing"
	"time"
)

// The example runs end to end against the embedded Redis and the fake portal.
func TestExampleRuns(t *testing.T) {
	for _, v := range []string{"REDIS_URL", "BITRIX24_PORTAL_URL"} {
		t.Setenv(v, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx); err != nil {
		t.Fatal(err)
	}
}
