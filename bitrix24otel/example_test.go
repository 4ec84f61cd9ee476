package bitrix24otel_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24otel"
	"github.com/b24go/bitrix24/bitrix24test"
)

// Instrument a client: each call is a span named by its REST method. Without
// WithTracerProvider and WithMeterProvider, the global providers are used.
func ExampleInstrument() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	srv := bitrix24test.NewServer()
	defer srv.Close()
	client, err := bitrix24.NewOAuthClient(srv.OAuthConfig(),
		bitrix24.WithHTTPClient(srv.Client()),
		bitrix24otel.Instrument(bitrix24otel.WithTracerProvider(tp)))
	if err != nil {
		panic(err)
	}
	ctx := bitrix24.WithRequestID(context.Background(), "example-1")
	if err := client.UserOption.Set(ctx, map[string]any{"theme": "dark"}); err != nil {
		panic(err)
	}
	for _, s := range spans.Ended() {
		fmt.Println(s.Name(), s.SpanKind())
		for _, kv := range s.Attributes() {
			if kv.Key != "server.address" {
				fmt.Printf("  %s = %s\n", kv.Key, kv.Value.String())
			}
		}
	}
	// Output:
	// user.option.set client
	//   bitrix24.method = user.option.set
	//   bitrix24.request_id = example-1
	//   bitrix24.attempts = 1
	//   http.response.status_code = 200
}
