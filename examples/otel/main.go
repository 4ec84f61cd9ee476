// Command otel runs the quickstart's calls against bitrix24test, the in-process fake
// portal, with bitrix24otel reporting them to OpenTelemetry's stdout exporters: every
// span (one per call, with its waits and retries as events) and, at the end, every
// metric.
//
//	go run ./examples/otel            # from the repository root (the workspace, go.work)
//
// It also shows what the telemetry is for: a call retried after QUERY_LIMIT_EXCEEDED
// (bitrix24.client.retries), a token refresh shared by concurrent calls
// (bitrix24.client.token.refreshes), an automatic batch (bitrix24.batch.size), the
// operating time the portal reports (bitrix24.client.operating), and a request id of
// your own (bitrix24.request_id, the X-Request-ID header).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24otel"
	"github.com/b24go/bitrix24/bitrix24test"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "otel:", err)
		os.Exit(1)
	}
}

// telemetry is a tracer and a meter provider printing to out.
type telemetry struct {
	tp *sdktrace.TracerProvider
	mp *sdkmetric.MeterProvider
}

func newTelemetry(out io.Writer) (*telemetry, error) {
	res := resource.NewSchemaless(attribute.String("service.name", "bitrix24-otel-example"))
	spans, err := stdouttrace.New(stdouttrace.WithWriter(out), stdouttrace.WithPrettyPrint())
	if err != nil {
		return nil, err
	}
	metrics, err := stdoutmetric.New(stdoutmetric.WithWriter(out), stdoutmetric.WithPrettyPrint())
	if err != nil {
		return nil, err
	}
	return &telemetry{
		// A syncer prints each span as it ends; a real service uses WithBatcher.
		tp: sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans), sdktrace.WithResource(res)),
		// The reader exports once more at shutdown: the metrics print at the end.
		mp: sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics, sdkmetric.WithInterval(time.Hour)))),
	}, nil
}

func (t *telemetry) shutdown(ctx context.Context) error {
	return errors.Join(t.tp.Shutdown(ctx), t.mp.Shutdown(ctx))
}

func run(ctx context.Context, out io.Writer) error {
	tel, err := newTelemetry(out)
	if err != nil {
		return err
	}
	srv := bitrix24test.NewServer()
	defer srv.Close()
	srv.SetMethodCost("userfieldtype.list", 1500*time.Millisecond) // an expensive method
	opts := []bitrix24.Option{
		bitrix24.WithHTTPClient(srv.Client()),
		bitrix24.WithRetry(3, 10*time.Millisecond, 100*time.Millisecond),
		bitrix24otel.Instrument(bitrix24otel.WithTracerProvider(tel.tp), bitrix24otel.WithMeterProvider(tel.mp)),
	}
	client, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), opts...)
	if err != nil {
		return err
	}
	// A second client coalesces concurrent reads into automatic batches. It holds the
	// same pair: it runs before the first client refreshes it (clients that share a pair
	// for longer share it through OAuthConfig.Store).
	batching, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), append(opts, bitrix24.WithAutoBatch(20*time.Millisecond))...)
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "== spans (one per call, printed as each ends)")
	for _, step := range []func(context.Context, *bitrix24.Client, *bitrix24test.Server) error{
		userOptions, fieldTypes, batch, retried,
	} {
		if err := step(ctx, client, srv); err != nil {
			return err
		}
	}
	if err := autoBatched(ctx, batching, srv); err != nil {
		return err
	}
	if err := refreshed(ctx, client, srv); err != nil {
		return err
	}
	fmt.Fprintln(out, "== metrics")
	return tel.shutdown(ctx)
}

func userOptions(ctx context.Context, c *bitrix24.Client, _ *bitrix24test.Server) error {
	// Your own request id: sent as X-Request-ID and on the span (bitrix24.request_id).
	ctx = bitrix24.WithRequestID(ctx, "quickstart-options")
	if err := c.UserOption.Set(ctx, map[string]any{"theme": "dark", "columns": []string{"id", "title"}}); err != nil {
		return err
	}
	var theme string
	_, err := c.UserOption.Get(ctx, "theme", &theme)
	return err
}

func fieldTypes(ctx context.Context, c *bitrix24.Client, _ *bitrix24test.Server) error {
	ft := bitrix24.UserFieldType{UserTypeID: "b24gotour", Handler: "https://app.example.com/uf/tour", Title: "Tour rating"}
	if err := c.UserFieldType.Add(ctx, ft); err != nil {
		return err
	}
	ft.Title = "Tour rating (v2)"
	if err := c.UserFieldType.Update(ctx, ft); err != nil {
		return err
	}
	if _, err := c.UserFieldType.List(ctx); err != nil {
		return err
	}
	if err := c.UserFieldType.Delete(ctx, ft.UserTypeID); err != nil {
		return err
	}
	// Deleting again fails: the span has error.type ERROR_NOT_FOUND and status Error.
	if err := c.UserFieldType.Delete(ctx, ft.UserTypeID); !errors.Is(err, bitrix24.ErrNotFound) {
		return fmt.Errorf("expected ErrNotFound, got %v", err)
	}
	return nil
}

func batch(ctx context.Context, c *bitrix24.Client, _ *bitrix24test.Server) error {
	var cmds []bitrix24.BatchCommand
	for i := range 60 {
		cmd, err := c.UserOption.SetCommand(fmt.Sprintf("w%02d", i), map[string]any{fmt.Sprintf("counter_%02d", i): fmt.Sprint(i)})
		if err != nil {
			return err
		}
		cmds = append(cmds, cmd)
	}
	_, err := c.Batch(ctx, true, cmds...) // one span, bitrix24.batch.size 60, two requests
	return err
}

// retried: the portal refuses the first attempt with QUERY_LIMIT_EXCEEDED.
func retried(ctx context.Context, c *bitrix24.Client, srv *bitrix24test.Server) error {
	srv.InjectFault("user.option.set", 1, bitrix24test.Fault{Status: 503,
		Body: `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`})
	return c.UserOption.Set(ctx, map[string]any{"retried": "yes"}) // bitrix24.attempts 2
}

// refreshed: the access token expires under three concurrent calls; one refresh.
func refreshed(ctx context.Context, c *bitrix24.Client, srv *bitrix24test.Server) error {
	srv.ExpireAccessToken()
	return concurrently(3, func() error {
		return c.UserOption.Set(ctx, map[string]any{"after_refresh": "yes"})
	})
}

// autoBatched: five concurrent reads travel as one automatic batch.
func autoBatched(ctx context.Context, c *bitrix24.Client, _ *bitrix24test.Server) error {
	return concurrently(5, func() error {
		var v string
		_, err := c.UserOption.Get(ctx, "theme", &v)
		return err
	})
}

func concurrently(n int, f func() error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = f() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
