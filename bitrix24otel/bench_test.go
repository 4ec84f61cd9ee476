package bitrix24otel_test

// BenchmarkInstrument/impl=plain|otel: the cost of Instrument on one call. docs/performance.md
// has the numbers, made by
//
//	go test -run='^$' -bench=Instrument -benchmem -count=20 ./bitrix24otel | tee otel.txt
//	benchstat -col /impl otel.txt
//
// Both sides call UserOption.Set through a webhook client (pacing off) against the same
// loopback server answering a fixed envelope. Besides ns/op (wall clock), cpu-ns/op is
// the CPU time of the whole process per call (client, server, span processor, GC). impl=otel records with the SDK: every span
// sampled and handed to a batch span processor (with an exporter that drops the spans),
// every metric aggregated by a manual reader.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24otel"
)

// benchAnswer is a real user.option.set answer.
const benchAnswer = `{"result":true,"time":{"start":1724423274.842117,"finish":1724423275.558021,` +
	`"duration":0.7159039974212646,"processing":0.0018908977508544922,"date_start":"2024-08-23T16:27:54+02:00",` +
	`"date_finish":"2024-08-23T16:27:55+02:00","operating_reset_at":1724423874,"operating":0.25}}`

// discardExporter drops the spans it is given.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

func BenchmarkInstrument(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, benchAnswer)
	}))
	defer srv.Close()

	run := func(b *testing.B, extra ...bitrix24.Option) {
		tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
		defer tr.CloseIdleConnections()
		opts := append([]bitrix24.Option{
			bitrix24.WithAllowHTTP(),
			bitrix24.WithHTTPClient(&http.Client{Transport: tr}),
			bitrix24.WithRateLimit(0, 0),
		}, extra...)
		c, err := bitrix24.NewWebhookClient(srv.URL+"/rest/1/abcdef0123456789/", opts...)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		options := map[string]any{"theme": "dark", "columns": []string{"id", "title"}}
		if err := c.UserOption.Set(ctx, options); err != nil { // opens the connection
			b.Fatal(err)
		}
		b.ReportAllocs()
		cpu0, cpuOK := processCPU()
		n := 0
		for b.Loop() {
			if err := c.UserOption.Set(ctx, options); err != nil {
				b.Fatal(err)
			}
			n++
		}
		// CPU time per call: on a shared machine, far steadier than the wall clock.
		if cpu1, ok := processCPU(); ok && cpuOK && n > 0 {
			b.ReportMetric(float64(cpu1-cpu0)/float64(n), "cpu-ns/op")
		}
	}
	plain := func(b *testing.B) { run(b) }
	instrumented := func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer func() {
			_ = tp.Shutdown(context.Background())
			_ = mp.Shutdown(context.Background())
		}()
		run(b, bitrix24otel.Instrument(bitrix24otel.WithTracerProvider(tp), bitrix24otel.WithMeterProvider(mp)))
	}
	// Which side runs first in a process shifts the figures by several percent either
	// way on this machine: the order alternates from one -count iteration to the next,
	// so that position hits both sides alike.
	if instrumentRuns.Add(1)%2 == 0 {
		b.Run("impl=otel", instrumented)
		b.Run("impl=plain", plain)
		return
	}
	b.Run("impl=plain", plain)
	b.Run("impl=otel", instrumented)
}

// instrumentRuns counts the iterations of BenchmarkInstrument in this process.
var instrumentRuns atomic.Int32
