package bitrix24redis_test

// Multi-process measurements: the test binary re-executes itself (TestHelperProcess) as 4
// OS processes of 8 goroutines each, against one bitrix24test portal and one Redis served
// by the parent. These are benchmarks, run with -benchtime=1x (see docs/performance.md):
//
//	go test -run='^$' -bench=MultiProcess -benchtime=1x ./bitrix24redis/

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24redis"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/redis/go-redis/v9"
)

const envHelper = "BITRIX24REDIS_HELPER" // the JSON helperSpec of a child process

const (
	procs      = 4
	goroutines = 8
	// The portal's bucket in the pacing measurements: Bitrix24's standard plan shape
	// (burst 50) at 25 times its rate, so that a run takes seconds, not minutes.
	benchRate  = 50.0
	benchBurst = 50
	callsEach  = 10 // per goroutine: 320 calls in all
)

// callsPerGoroutine is callsEach, or 2 with -short (CI's smoke run: the calls then fit in
// the burst and the wall-time ratio means nothing).
func callsPerGoroutine() int {
	if testing.Short() {
		return 2
	}
	return callsEach
}

// helperSpec tells a child what to do.
type helperSpec struct {
	Mode         string // "shared", "inprocess", "refresh", "outage"
	Redis        string
	Portal       string
	ClientID     string
	ClientSecret string
	MemberID     string
	Token        bitrix24.Token // shared, inprocess: the pair to use (no store)
	Calls        int            // per goroutine; outage: 0, call until RunFor ends
	RunFor       time.Duration
}

// helperResult is what a child reports on its last line.
type helperResult struct {
	OK, Failed   int
	Hung         int           // calls that had not returned when the child gave up on them
	MaxCall      time.Duration // the longest call
	Start, End   int64         // Unix ns of the first call and of the last return
	FirstErrors  []string
	RefreshToken string // sha256 prefix of the pair the client holds at the end
}

func hashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// TestHelperProcess is a child of the multi-process benchmarks; it does nothing otherwise.
func TestHelperProcess(t *testing.T) {
	raw := os.Getenv(envHelper)
	if raw == "" {
		t.Skip("a child of the multi-process benchmarks")
	}
	var spec helperSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	res, err := runHelper(spec)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", out)
}

func runHelper(spec helperSpec) (helperResult, error) {
	rdb := redis.NewClient(&redis.Options{Addr: spec.Redis})
	defer rdb.Close()
	cfg := bitrix24.OAuthConfig{
		PortalURL: spec.Portal, ClientID: spec.ClientID, ClientSecret: spec.ClientSecret,
		TokenURL: spec.Portal + "/oauth/token/", Token: spec.Token,
	}
	opts := []bitrix24.Option{bitrix24.WithAllowHTTP()}
	switch spec.Mode {
	case "shared":
		opts = append(opts, bitrix24.WithLimiter(bitrix24redis.NewLimiter(rdb, "bench:rate:"+spec.MemberID, benchRate, benchBurst)))
	case "inprocess":
		opts = append(opts, bitrix24.WithRateLimit(benchRate, benchBurst))
	case "refresh":
		cfg.Store, cfg.StoreKey = bitrix24redis.NewTokenStore(rdb, "bench:"), bitrix24.TokenKey{MemberID: spec.MemberID}
		opts = append(opts, bitrix24.WithRateLimit(0, 0))
	case "outage":
		cfg.Store, cfg.StoreKey = bitrix24redis.NewTokenStore(rdb, "bench:"), bitrix24.TokenKey{MemberID: spec.MemberID}
		opts = append(opts, bitrix24.WithLimiter(bitrix24redis.NewLimiter(rdb, "bench:rate:"+spec.MemberID, benchRate, benchBurst)),
			bitrix24.WithRetry(1, 10*time.Millisecond, 50*time.Millisecond))
	default:
		return helperResult{}, fmt.Errorf("unknown mode %q", spec.Mode)
	}
	c, err := bitrix24.NewOAuthClient(cfg, opts...)
	if err != nil {
		return helperResult{}, err
	}

	// Ready; wait for the parent's go, so that process start-up is not measured.
	fmt.Println("READY")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return helperResult{}, err
	}

	var (
		mu       sync.Mutex
		res      helperResult
		inflight atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	stopAt := start.Add(spec.RunFor)
	for range goroutines {
		wg.Go(func() {
			for i := 0; spec.Calls == 0 || i < spec.Calls; i++ {
				if spec.Calls == 0 && time.Now().After(stopAt) {
					return
				}
				inflight.Add(1)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				t0 := time.Now()
				err := c.Call(ctx, "server.time", nil, nil)
				d := time.Since(t0)
				cancel()
				inflight.Add(-1)
				mu.Lock()
				res.MaxCall = max(res.MaxCall, d)
				if err == nil {
					res.OK++
				} else {
					res.Failed++
					if len(res.FirstErrors) < 3 {
						res.FirstErrors = append(res.FirstErrors, err.Error())
					}
				}
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(spec.RunFor + 60*time.Second):
		mu.Lock()
		res.Hung = int(inflight.Load())
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	res.Start, res.End = start.UnixNano(), time.Now().UnixNano()
	res.RefreshToken = hashToken(c.Token().RefreshToken)
	return res, nil
}

// child is one running helper process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	output strings.Builder
}

// startChildren starts n helpers and returns once all are ready.
func startChildren(b *testing.B, spec helperSpec) []*child {
	b.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	var kids []*child
	for range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v=false")
		cmd.Env = append(os.Environ(), envHelper+"="+string(raw))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		k := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				k.lines <- sc.Text()
			}
			close(k.lines)
		}()
		b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		kids = append(kids, k)
	}
	for i, k := range kids {
		if _, ok := k.await("READY", time.Minute); !ok {
			b.Fatalf("child %d did not start:\n%s", i, k.output.String())
		}
	}
	return kids
}

// await reads lines until one starts with prefix.
func (k *child) await(prefix string, timeout time.Duration) (string, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-k.lines:
			if !ok {
				return "", false
			}
			k.output.WriteString(line + "\n")
			if strings.HasPrefix(line, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(line, prefix)), true
			}
		case <-deadline:
			return "", false
		}
	}
}

// runChildren starts the helpers, lets them go at once and collects their results.
func runChildren(b *testing.B, spec helperSpec, during func()) []helperResult {
	b.Helper()
	kids := startChildren(b, spec)
	for _, k := range kids {
		if _, err := io.WriteString(k.stdin, "go\n"); err != nil {
			b.Fatal(err)
		}
	}
	if during != nil {
		during()
	}
	var results []helperResult
	for i, k := range kids {
		line, ok := k.await("RESULT", 3*time.Minute)
		if !ok {
			b.Fatalf("child %d gave no result:\n%s", i, k.output.String())
		}
		var r helperResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			b.Fatal(err)
		}
		results = append(results, r)
	}
	return results
}

type totals struct {
	ok, failed, hung int
	wall             time.Duration
	maxCall          time.Duration
	errors           []string
}

func sum(rs []helperResult) totals {
	var t totals
	var start, end int64
	for i, r := range rs {
		t.ok += r.OK
		t.failed += r.Failed
		t.hung += r.Hung
		t.maxCall = max(t.maxCall, r.MaxCall)
		t.errors = append(t.errors, r.FirstErrors...)
		if i == 0 || r.Start < start {
			start = r.Start
		}
		end = max(end, r.End)
	}
	t.wall = time.Duration(end - start)
	return t
}

// pacingBench runs 4 processes × 8 goroutines × callsEach calls against a portal whose
// bucket is (benchRate, benchBurst) and reports refusals and wall time against the ideal:
// the portal's own capacity, burst at once and then benchRate per second.
func pacingBench(b *testing.B, mode string) {
	r := startRedis(b)
	calls := callsPerGoroutine()
	total := procs * goroutines * calls
	ideal := time.Duration(float64(max(total-benchBurst, 1)) / benchRate * float64(time.Second))
	var refusals, failed int
	var wall time.Duration
	for range b.N {
		srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(benchRate, benchBurst), bitrix24test.WithPlainHTTP())
		cfg := srv.OAuthConfig()
		rs := runChildren(b, helperSpec{Mode: mode, Redis: r.Addr, Portal: srv.URL, ClientID: cfg.ClientID,
			ClientSecret: cfg.ClientSecret, MemberID: srv.MemberID(), Token: cfg.Token, Calls: calls}, nil)
		tot := sum(rs)
		refusals, failed, wall = srv.QueryLimitRefusals(), tot.failed, tot.wall
		if tot.ok+tot.failed != total {
			b.Fatalf("%d calls returned, want %d", tot.ok+tot.failed, total)
		}
		if mode == "shared" && (refusals != 0 || failed != 0) {
			b.Errorf("shared limiter: %d refusals, %d failed calls (%q)", refusals, failed, tot.errors)
		}
		srv.Close()
	}
	b.ReportMetric(float64(refusals), "refusals")
	b.ReportMetric(float64(failed), "failed-calls")
	b.ReportMetric(wall.Seconds(), "wall-s")
	b.ReportMetric(ideal.Seconds(), "ideal-s")
	b.ReportMetric(wall.Seconds()/ideal.Seconds(), "wall/ideal")
}

// One Redis Limiter shared by 4 processes: 0 refusals, wall time close to the ideal.
func BenchmarkMultiProcessSharedLimiter(b *testing.B) { pacingBench(b, "shared") }

// For comparison: the same 4 processes each pacing only themselves (WithRateLimit).
func BenchmarkMultiProcessInProcessPacing(b *testing.B) { pacingBench(b, "inprocess") }

// 4 processes on an expired pair share the Redis TokenStore: exactly one refresh.
func BenchmarkMultiProcessSharedRefresh(b *testing.B) {
	r := startRedis(b)
	var refreshes, failed int
	for range b.N {
		srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0), bitrix24test.WithPlainHTTP())
		cfg := srv.OAuthConfig()
		store := bitrix24redis.NewTokenStore(r.client(b), "bench:")
		key := bitrix24.TokenKey{MemberID: srv.MemberID()}
		if err := store.Save(context.Background(), key, cfg.Token); err != nil {
			b.Fatal(err)
		}
		srv.ExpireAccessToken()
		rs := runChildren(b, helperSpec{Mode: "refresh", Redis: r.Addr, Portal: srv.URL, ClientID: cfg.ClientID,
			ClientSecret: cfg.ClientSecret, MemberID: srv.MemberID(), Calls: 1}, nil)
		tot := sum(rs)
		refreshes, failed = srv.Refreshes(), tot.failed
		stored, err := store.Load(context.Background(), key)
		if err != nil {
			b.Fatal(err)
		}
		if refreshes != 1 || failed != 0 || stored.RefreshToken != srv.Token().RefreshToken {
			b.Errorf("%d refreshes, %d failed calls (%q), stored pair current: %v", refreshes, failed, tot.errors,
				stored.RefreshToken == srv.Token().RefreshToken)
		}
		srv.Close()
	}
	b.ReportMetric(float64(refreshes), "refreshes")
	b.ReportMetric(float64(failed), "failed-calls")
}

// Redis killed mid-run while 4 processes call the portal through the shared Limiter and
// TokenStore, and the portal expires the access token every 300 ms (so pairs rotate
// through the store and its lock): every call returns, with an error or a result, none
// hangs, and the pair the portal considers current is held by a process at the end.
func BenchmarkMultiProcessRedisKilled(b *testing.B) {
	runFor := 4 * time.Second
	if testing.Short() {
		runFor = 2 * time.Second
	}
	var tot totals
	var lost bool
	var refreshes int
	for range b.N {
		r := startRedis(b)
		srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(benchRate, benchBurst), bitrix24test.WithPlainHTTP())
		cfg := srv.OAuthConfig()
		store := bitrix24redis.NewTokenStore(r.client(b), "bench:")
		if err := store.Save(context.Background(), bitrix24.TokenKey{MemberID: srv.MemberID()}, cfg.Token); err != nil {
			b.Fatal(err)
		}
		rs := runChildren(b, helperSpec{Mode: "outage", Redis: r.Addr, Portal: srv.URL, ClientID: cfg.ClientID,
			ClientSecret: cfg.ClientSecret, MemberID: srv.MemberID(), RunFor: runFor}, func() {
			for i := range int(runFor / (300 * time.Millisecond)) {
				time.Sleep(300 * time.Millisecond)
				srv.ExpireAccessToken()
				if i == int(runFor/(600*time.Millisecond))-1 { // about half way: 1.8 s into 4 s
					r.Kill()
				}
			}
		})
		tot = sum(rs)
		refreshes = srv.Refreshes()
		current := hashToken(srv.Token().RefreshToken)
		lost = true
		for _, res := range rs {
			if res.RefreshToken == current {
				lost = false
			}
		}
		if tot.hung != 0 || lost {
			b.Errorf("%d calls hung; current pair held by a process: %v", tot.hung, !lost)
		}
		srv.Close()
	}
	b.ReportMetric(float64(tot.ok), "ok-calls")
	b.ReportMetric(float64(tot.failed), "failed-calls")
	b.ReportMetric(float64(tot.hung), "hung-calls")
	b.ReportMetric(tot.maxCall.Seconds(), "max-call-s")
	b.ReportMetric(float64(refreshes), "refreshes")
	lostN := 0.0
	if lost {
		lostN = 1
	}
	b.ReportMetric(lostN, "pairs-lost")
}
