package bitrix24

import (
	"context"
	"testing"
)

// BenchmarkRequestID is what every call pays for its X-Request-ID: the id (ctx's or a
// fresh one) and the header's value.
func BenchmarkRequestID(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	var hdr []string
	for b.Loop() {
		id, err := requestIDOf(ctx)
		if err != nil {
			b.Fatal(err)
		}
		hdr = []string{id}
	}
	_ = hdr
}
