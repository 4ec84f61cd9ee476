package bitrix24_test

// Benchmarks of the call path. docs/performance.md has the numbers, made by
//
//	tools/bench.sh    # interleaved rounds, benchstat tables, plots
//
// and any of them runs alone with the usual
//
//	go test -run='^$' -bench=PerCall -benchmem -count=6 .
//
// Every benchmark is quick with -benchtime=1x (the CI smoke runs that).
//
//   - BenchmarkPerCall/op=.../impl=raw|sdk: one call of UserOption.Set,
//     UserFieldType.Update or Call through the SDK, and the same request through a bare
//     *http.Client (same JSON body, same headers, same envelope decode), against a
//     loopback server answering a fixed envelope.
//   - BenchmarkClientOnly/op=.../impl=raw|sdk: the same over an in-memory transport, for
//     the cost of the client side alone.
//   - BenchmarkPayload/deals=.../impl=raw|sdk: Call with results of growing size.
//   - BenchmarkParallel/goroutines=1|8|64/impl=raw|sdk: UserOption.Set from many
//     goroutines sharing one client (b.RunParallel).
//   - BenchmarkBatch/mode=batch|single: 50 user.option.set as one batch or as 50 calls,
//     against bitrix24test; reports "requests/op", the requests per 50 commands.
//   - BenchmarkRateLimited/n=...: n calls from 8 goroutines through bitrix24test with its
//     leaky bucket on (100/s, burst 50) and the client's matching bucket; reports the
//     wall time over the ideal (n-burst)/rate, the 503s and the requests.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// benchHookPath is the webhook path of the loopback server (it does not check it).
const benchHookPath = "/rest/1/abcdef0123456789/"

// benchTransport is the transport of both the SDK and the raw client: keep-alive
// connections for up to 64 goroutines and more.
func benchTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
}

// benchTimeJSON is the "time" object of a real answer (testdata/useroption_set_ok.json).
const benchTimeJSON = `{"start":1724423274.842117,"finish":1724423275.558021,"duration":0.7159039974212646,` +
	`"processing":0.0018908977508544922,"date_start":"2024-08-23T16:27:54+02:00",` +
	`"date_finish":"2024-08-23T16:27:55+02:00","operating_reset_at":1724423874,"operating":0}`

func benchEnvelope(result string) []byte {
	return []byte(`{"result":` + result + `,"time":` + benchTimeJSON + `}`)
}

// benchDealJSON is one crm.deal.get result.
func benchDealJSON(id int) string {
	return fmt.Sprintf(`{"ID":"%d","TITLE":"Deal #%d","STAGE_ID":"NEW","OPPORTUNITY":"1000.00",`+
		`"CURRENCY_ID":"USD","ASSIGNED_BY_ID":"1","DATE_CREATE":"2024-08-23T16:27:54+02:00"}`, id, id)
}

type benchDeal struct {
	ID          string `json:"ID"`
	Title       string `json:"TITLE"`
	StageID     string `json:"STAGE_ID"`
	Opportunity string `json:"OPPORTUNITY"`
	CurrencyID  string `json:"CURRENCY_ID"`
	AssignedBy  string `json:"ASSIGNED_BY_ID"`
	DateCreate  string `json:"DATE_CREATE"`
}

// benchDealList is a result of n deals.
func benchDealList(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = benchDealJSON(i + 1)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// newLoopback starts a plain-HTTP server that drains each request body and answers
// the fixed envelope of the method named by the last path element.
func newLoopback(tb testing.TB, answers map[string][]byte) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		body, ok := answers[path.Base(r.URL.Path)]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"ERROR_METHOD_NOT_FOUND","error_description":"Method not found!"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// perCallAnswers are the answers of the per-call and parallel benchmarks.
func perCallAnswers() map[string][]byte {
	ok := readTestdata("useroption_set_ok.json")
	return map[string][]byte{
		"user.option.set":      ok,
		"userfieldtype.update": readTestdata("userfieldtype_ok.json"),
		"crm.deal.get":         benchEnvelope(benchDealJSON(42)),
	}
}

func readTestdata(name string) []byte {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	return bytes.TrimSpace(data)
}

// newBenchSDK returns a webhook client of srv over tr, with pacing off.
func newBenchSDK(tb testing.TB, srv *httptest.Server, tr *http.Transport) *bitrix24.Client {
	tb.Helper()
	c, err := bitrix24.NewWebhookClient(srv.URL+benchHookPath,
		bitrix24.WithAllowHTTP(),
		bitrix24.WithHTTPClient(&http.Client{Transport: tr}),
		bitrix24.WithRateLimit(0, 0))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// rawClient does what the SDK does, with nothing but net/http and encoding/json.
type rawClient struct {
	hc   *http.Client
	base string
}

// rawEnvelope is the envelope decoded the plain way: raw result, error and time.
type rawEnvelope struct {
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
	Time   struct {
		Start            float64 `json:"start"`
		Finish           float64 `json:"finish"`
		Duration         float64 `json:"duration"`
		Processing       float64 `json:"processing"`
		DateStart        string  `json:"date_start"`
		DateFinish       string  `json:"date_finish"`
		Operating        float64 `json:"operating"`
		OperatingResetAt int64   `json:"operating_reset_at"`
	} `json:"time"`
}

func (c *rawClient) call(ctx context.Context, method string, params, dst any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var env rawEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || env.Error != nil || env.Result == nil {
		return fmt.Errorf("%s: status %d: %.100s", method, resp.StatusCode, data)
	}
	if dst != nil {
		return json.Unmarshal(env.Result, dst)
	}
	return nil
}

// newRawClient returns a raw client over tr with the *http.Client settings the SDK
// runs with by default: a per-request timeout of bitrix24.DefaultTimeout.
func newRawClient(srv *httptest.Server, tr *http.Transport) *rawClient {
	return &rawClient{hc: &http.Client{Transport: tr, Timeout: bitrix24.DefaultTimeout}, base: srv.URL + benchHookPath}
}

// benchOp is one call made the SDK way or the raw way.
type benchOp struct {
	name string
	sdk  func(ctx context.Context, c *bitrix24.Client) error
	raw  func(ctx context.Context, c *rawClient) error
}

var benchOptions = map[string]any{"theme": "dark", "columns": []string{"id", "title"}}

var benchUFType = bitrix24.UserFieldType{
	UserTypeID: "rating", Handler: "https://app.example.com/uf/rating", Title: "Rating",
	Description: "Stars from 1 to 5", Height: 60,
}

func userOptionSetOp() benchOp {
	return benchOp{
		name: "UserOptionSet",
		sdk: func(ctx context.Context, c *bitrix24.Client) error {
			return c.UserOption.Set(ctx, benchOptions)
		},
		raw: func(ctx context.Context, c *rawClient) error {
			return c.call(ctx, "user.option.set", map[string]any{"options": benchOptions}, nil)
		},
	}
}

func benchOps() []benchOp {
	return []benchOp{
		userOptionSetOp(),
		{
			name: "UserFieldTypeUpdate",
			sdk: func(ctx context.Context, c *bitrix24.Client) error {
				return c.UserFieldType.Update(ctx, benchUFType)
			},
			raw: func(ctx context.Context, c *rawClient) error {
				t := benchUFType
				return c.call(ctx, "userfieldtype.update", map[string]any{
					"USER_TYPE_ID": t.UserTypeID,
					"HANDLER":      t.Handler,
					"TITLE":        t.Title,
					"DESCRIPTION":  t.Description,
					"OPTIONS":      map[string]int{"height": t.Height},
				}, nil)
			},
		},
		{
			name: "Call",
			sdk: func(ctx context.Context, c *bitrix24.Client) error {
				var deal benchDeal
				return c.Call(ctx, "crm.deal.get", map[string]any{"id": 42}, &deal)
			},
			raw: func(ctx context.Context, c *rawClient) error {
				var deal benchDeal
				return c.call(ctx, "crm.deal.get", map[string]any{"id": 42}, &deal)
			},
		},
	}
}

// runImpls runs op as sub-benchmarks impl=raw and impl=sdk, each over its own transport
// with the same settings; loop drives b.N calls of one function. The one that runs
// second in a process tends to differ by a few percent on a busy machine, so
// BENCH_SDK_FIRST=1 swaps the order: tools/bench.sh alternates it between rounds.
func runImpls(b *testing.B, srv *httptest.Server, op benchOp, loop func(b *testing.B, call func(ctx context.Context) error)) {
	raw := func(b *testing.B) {
		tr := benchTransport()
		defer tr.CloseIdleConnections()
		c := newRawClient(srv, tr)
		loop(b, func(ctx context.Context) error { return op.raw(ctx, c) })
	}
	sdk := func(b *testing.B) {
		tr := benchTransport()
		defer tr.CloseIdleConnections()
		c := newBenchSDK(b, srv, tr)
		loop(b, func(ctx context.Context) error { return op.sdk(ctx, c) })
	}
	if os.Getenv("BENCH_SDK_FIRST") == "1" {
		b.Run("impl=sdk", sdk)
		b.Run("impl=raw", raw)
		return
	}
	b.Run("impl=raw", raw)
	b.Run("impl=sdk", sdk)
}

// sequential runs b.N calls one after the other, after one warm-up call that opens the
// connection.
func sequential(b *testing.B, call func(ctx context.Context) error) {
	ctx := context.Background()
	if err := call(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := call(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPerCall compares one call through the SDK with the same request through a
// bare *http.Client.
func BenchmarkPerCall(b *testing.B) {
	srv := newLoopback(b, perCallAnswers())
	for _, op := range benchOps() {
		b.Run("op="+op.name, func(b *testing.B) { runImpls(b, srv, op, sequential) })
	}
}

// cannedTransport answers every request with the fixed envelope of its method at once,
// without a network: what is left is the client's own work.
type cannedTransport struct{ answers map[string][]byte }

func (t cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	body, ok := t.answers[path.Base(r.URL.Path)]
	if !ok {
		return nil, fmt.Errorf("no answer for %s", r.URL.Path)
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}, nil
}

// BenchmarkClientOnly is BenchmarkPerCall over an in-memory transport: the time and
// allocations of the client side alone (encoding, the HTTP client's request and
// response handling, decoding), SDK against raw net/http.
func BenchmarkClientOnly(b *testing.B) {
	rt := cannedTransport{perCallAnswers()}
	const base = "http://portal.invalid" + benchHookPath
	for _, op := range benchOps() {
		b.Run("op="+op.name, func(b *testing.B) {
			b.Run("impl=raw", func(b *testing.B) {
				c := &rawClient{hc: &http.Client{Transport: rt, Timeout: bitrix24.DefaultTimeout}, base: base}
				sequential(b, func(ctx context.Context) error { return op.raw(ctx, c) })
			})
			b.Run("impl=sdk", func(b *testing.B) {
				c, err := bitrix24.NewWebhookClient(base, bitrix24.WithAllowHTTP(),
					bitrix24.WithHTTPClient(&http.Client{Transport: rt}), bitrix24.WithRateLimit(0, 0))
				if err != nil {
					b.Fatal(err)
				}
				sequential(b, func(ctx context.Context) error { return op.sdk(ctx, c) })
			})
		})
	}
}

// BenchmarkPayload is Call with results of 1, 10, 100 and 1,000 deals (~0.2 KB to
// ~200 KB), decoded into a slice of structs.
func BenchmarkPayload(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		answer := benchEnvelope(benchDealList(n))
		srv := newLoopback(b, map[string][]byte{"crm.deal.list": answer})
		op := benchOp{
			sdk: func(ctx context.Context, c *bitrix24.Client) error {
				var deals []benchDeal
				return c.Call(ctx, "crm.deal.list", map[string]any{"start": 0}, &deals)
			},
			raw: func(ctx context.Context, c *rawClient) error {
				var deals []benchDeal
				return c.call(ctx, "crm.deal.list", map[string]any{"start": 0}, &deals)
			},
		}
		b.Run(fmt.Sprintf("deals=%d", n), func(b *testing.B) {
			runImpls(b, srv, op, func(b *testing.B, call func(ctx context.Context) error) {
				b.SetBytes(int64(len(answer))) // MB/s: answer bytes decoded per second
				sequential(b, call)
			})
		})
	}
}

// BenchmarkParallel runs UserOption.Set from 1, 8 and 64 goroutines sharing one client
// (and one transport). goroutines=1 is a plain loop; the others use b.RunParallel with
// SetParallelism(goroutines/GOMAXPROCS), rounded up. ns/op is wall time per call, so
// calls per second = 1e9 / ns/op.
func BenchmarkParallel(b *testing.B) {
	srv := newLoopback(b, perCallAnswers())
	op := userOptionSetOp()
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			runImpls(b, srv, op, func(b *testing.B, call func(ctx context.Context) error) {
				if g == 1 {
					sequential(b, call)
					return
				}
				procs := runtime.GOMAXPROCS(0)
				b.SetParallelism((g + procs - 1) / procs)
				// Open the connections first, so that the timed part measures calls.
				var wg sync.WaitGroup
				errs := make(chan error, g)
				for range g {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs <- call(context.Background())
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						if err := call(ctx); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// newFake starts bitrix24test over plain HTTP and returns it with an OAuth client.
func newFake(tb testing.TB, fakeOpts []bitrix24test.Option, clientOpts ...bitrix24.Option) (*bitrix24test.Server, *bitrix24.Client) {
	tb.Helper()
	srv := bitrix24test.NewServer(fakeOpts...)
	tb.Cleanup(srv.Close)
	c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), append([]bitrix24.Option{bitrix24.WithHTTPClient(srv.Client())}, clientOpts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return srv, c
}

// BenchmarkBatch sets 50 user options as one batch (mode=batch) or as 50 calls of
// UserOption.Set (mode=single), against bitrix24test with its limits off. One op is all
// 50 commands; "requests" is the HTTP requests the server received per op.
func BenchmarkBatch(b *testing.B) {
	const n = bitrix24.MaxBatchCommands
	fakeOpts := []bitrix24test.Option{bitrix24test.WithPlainHTTP(),
		bitrix24test.WithRateLimit(0, 0), bitrix24test.WithOperationTimeLimit(0)}
	b.Run("mode=batch", func(b *testing.B) {
		srv, c := newFake(b, fakeOpts, bitrix24.WithAllowHTTP(), bitrix24.WithRateLimit(0, 0))
		ctx := context.Background()
		run := func() {
			cmds := make([]bitrix24.BatchCommand, n)
			for i := range cmds {
				cmd, err := c.UserOption.SetCommand("s"+strconv.Itoa(i), map[string]any{"k" + strconv.Itoa(i): strconv.Itoa(i)})
				if err != nil {
					b.Fatal(err)
				}
				cmds[i] = cmd
			}
			res, err := c.Batch(ctx, true, cmds...)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Errors) != 0 || len(res.Results) != n {
				b.Fatalf("batch: %d results, errors %v", len(res.Results), res.Errors)
			}
		}
		measureRequests(b, srv, run)
	})
	b.Run("mode=single", func(b *testing.B) {
		srv, c := newFake(b, fakeOpts, bitrix24.WithAllowHTTP(), bitrix24.WithRateLimit(0, 0))
		ctx := context.Background()
		run := func() {
			for i := range n {
				if err := c.UserOption.Set(ctx, map[string]any{"k" + strconv.Itoa(i): strconv.Itoa(i)}); err != nil {
					b.Fatal(err)
				}
			}
		}
		measureRequests(b, srv, run)
	})
}

// Rate limit of BenchmarkRateLimited, for the fake portal and the client alike.
const (
	benchRate       = 100.0
	benchBurst      = 50
	benchGoroutines = 8
)

// BenchmarkRateLimited makes n calls of UserOption.Set from 8 goroutines through
// bitrix24test with its leaky bucket on (100/s, burst 50) and a client configured with
// the same limit, on a fresh server and client each iteration. Metrics: "wall/ideal" is
// the wall time over (n - burst) / rate, "503s" the QUERY_LIMIT_EXCEEDED refusals and
// "requests" the HTTP requests the server received, per iteration; ns/op is the wall
// time of the n calls. One iteration takes about (n-50)/100 s.
func BenchmarkRateLimited(b *testing.B) {
	for _, n := range []int{150, 250, 350, 450} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			ideal := time.Duration(float64(n-benchBurst) / benchRate * float64(time.Second))
			var ratio, refusals, requests float64
			b.StopTimer()
			for i := 0; i < b.N; i++ {
				srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(benchRate, benchBurst),
					bitrix24test.WithOperationTimeLimit(0))
				c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), bitrix24.WithHTTPClient(srv.Client()),
					bitrix24.WithRateLimit(benchRate, benchBurst))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				errs := hammer(benchGoroutines, n, func(i int) error {
					return c.UserOption.Set(context.Background(), map[string]any{"k" + strconv.Itoa(i%10): i})
				})
				wall := time.Since(start)
				b.StopTimer()
				if len(errs) > 0 {
					b.Fatal(errors.Join(errs...))
				}
				ratio += float64(wall) / float64(ideal)
				refusals += float64(srv.QueryLimitRefusals())
				requests += float64(srv.Requests(""))
				srv.Close()
			}
			b.ReportMetric(ratio/float64(b.N), "wall/ideal")
			b.ReportMetric(refusals/float64(b.N), "503s")
			b.ReportMetric(requests/float64(b.N), "requests")
		})
	}
}

// measureRequests runs run once to warm up, then b.N times, and reports how many
// requests the fake portal received per run.
func measureRequests(b *testing.B, srv *bitrix24test.Server, run func()) {
	run()
	before := srv.Requests("")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.StopTimer()
	b.ReportMetric(float64(srv.Requests("")-before)/float64(b.N), "requests/op")
}
