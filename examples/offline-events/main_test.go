package main

import (
	"context"
	"testing"
	"time"
)

// The tour checks its own expectations (events seen, the crashed page again, the
// connector's queue) and fails with an error when one does not hold.
func TestTourRunsEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx); err != nil {
		t.Fatal(err)
	}
}
