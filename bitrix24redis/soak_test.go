package bitrix24redis_test

// The soak: nothing is lost under concurrency, faults, token expiry and a Redis restart.
// Four OS processes (this test binary re-executed as TestSoakChild) share one Redis
// limiter and token store and call one bitrix24test portal for a bounded time, while
// this process injects 5 % faults (503, 502, resets, timeouts), expires the access token
// every few seconds and restarts Redis once. Not part of the default `go test`:
//
//	go test ./bitrix24redis/ -run '^TestSoak$' -timeout=30m -soak=10m
//
// Figures of a 10-minute run are in docs/reliability.md.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24redis"
	"github.com/b24go/bitrix24/bitrix24test"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var soakFor = flag.Duration("soak", 0, "run TestSoak for this long (0: skip it)")

const (
	soakProcs     = 4
	soakWorkers   = 8
	soakRate      = 50.0 // the portal's bucket: Bitrix24's burst at 25 times its rate
	soakBurst     = 50
	soakFaultRate = 0.05
)

// soakMethods are the REST methods the children call; faults are injected into each in
// proportion to its traffic (never into the token endpoint).
var soakMethods = []string{"batch", "user.option.set", "userfieldtype.add", "userfieldtype.update",
	"userfieldtype.delete", "userfieldtype.list", "crm.item.list", "server.time"}

func TestSoak(t *testing.T) {
	if *soakFor <= 0 {
		t.Skip("the soak runs with -soak=<duration>")
	}
	redisPath, err := exec.LookPath("redis-server")
	require.NoError(t, err, "the soak needs a real redis-server")
	expireEvery := min(5*time.Second, *soakFor/6)

	rs := startPersistentRedis(t, redisPath)
	srv := bitrix24test.New(t, bitrix24test.WithRateLimit(soakRate, soakBurst), bitrix24test.WithPlainHTTP(),
		bitrix24test.WithScope("crm,placement,user"))
	srv.SeedCRMItems(2, 300)
	cfg := srv.OAuthConfig()
	key := bitrix24.TokenKey{MemberID: srv.MemberID()}
	rdb := redis.NewClient(&redis.Options{Addr: rs.addr})
	defer rdb.Close()
	require.NoError(t, bitrix24redis.NewTokenStore(rdb, "soak:").Save(context.Background(), key, cfg.Token))

	dir := t.TempDir()
	spec := func(p int) soakSpec {
		return soakSpec{Proc: p, Redis: rs.addr, Portal: srv.URL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			MemberID: srv.MemberID(), RunFor: *soakFor, Workers: soakWorkers, Rate: soakRate, Burst: soakBurst,
			LogFile: filepath.Join(dir, fmt.Sprintf("child%d.log", p)), SecretsFile: filepath.Join(dir, fmt.Sprintf("secrets%d.txt", p))}
	}

	start := time.Now()
	ctx, stop := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	// Faults: about 5 % of each method's requests.
	bg.Go(func() { injectFaults(ctx, srv) })
	// Token expiry every expireEvery; one Redis restart half-way between two expiries.
	expiries := 0
	var restartErr error
	var restartTook time.Duration
	bg.Go(func() {
		tick := time.NewTicker(expireEvery)
		defer tick.Stop()
		restartAt := time.NewTimer(*soakFor/2 + expireEvery/2 - (*soakFor/2)%expireEvery)
		defer restartAt.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if time.Since(start) > *soakFor-expireEvery/2 {
					continue // too late for the workers to notice before they stop
				}
				srv.ExpireAccessToken()
				expiries++
			case <-restartAt.C:
				t0 := time.Now()
				restartErr = rs.restart()
				restartTook = time.Since(t0)
			}
		}
	})

	reports := runSoakChildren(t, spec)
	stop()
	bg.Wait()
	srv.ClearFaults()
	elapsed := time.Since(start)
	require.NoError(t, restartErr, "restarting Redis")

	// What the portal holds.
	var (
		calls, errs, batches, batched int
		refusals, abandoned           []string
		lat                           []int32
		added                         []string
	)
	wantOptions := map[string]string{}
	for _, r := range reports {
		calls += r.Calls
		errs += r.Errors
		batches += int(r.Batches)
		batched += int(r.Batched)
		refusals = append(refusals, r.Refusals...)
		abandoned = append(abandoned, r.Abandoned...)
		lat = append(lat, r.Latencies...)
		added = append(added, r.TypesAdded...)
		for k, v := range r.Options {
			wantOptions[k] = v
		}
		assert.LessOrEqual(t, r.Goroutines[1], r.Goroutines[0], "goroutines of a child: end vs baseline")
	}
	stored := srv.UserOptions(cfg.ClientID, 1)
	lost := 0
	for k, v := range wantOptions {
		if stored[k] != v {
			lost++
			t.Errorf("option %s = %v, want %q (the last value set)", k, stored[k], v)
		}
	}
	uniq := slices.Compact(slices.Sorted(slices.Values(added)))
	duplicates := srv.Calls("userfieldtype.add") - len(uniq)
	assert.Equal(t, len(added), len(uniq), "a field type was reported added twice")
	assert.Zero(t, duplicates, "userfieldtype.add ran %d times for %d field types", srv.Calls("userfieldtype.add"), len(uniq))
	assert.Empty(t, srv.UserFieldTypes(cfg.ClientID), "field types left behind")
	assert.Empty(t, refusals, "refusals that reached a caller")
	assert.Empty(t, abandoned, "operations that never succeeded")
	assert.Equal(t, expiries, srv.Refreshes(), "refreshes: one per expiry")

	// No secret in any log line.
	secrets := []string{cfg.ClientSecret, cfg.Token.AccessToken, cfg.Token.RefreshToken}
	for p := range soakProcs {
		data, err := os.ReadFile(spec(p).SecretsFile)
		require.NoError(t, err)
		secrets = append(secrets, strings.Fields(string(data))...)
	}
	logLines := 0
	for p := range soakProcs {
		data, err := os.ReadFile(spec(p).LogFile)
		require.NoError(t, err)
		logLines += bytes.Count(data, []byte("\n"))
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("a secret (%d bytes) is in the log of child %d", len(s), p)
			}
		}
	}

	slices.Sort(lat)
	p := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return time.Duration(lat[int(q*float64(len(lat)-1))]) * time.Microsecond
	}
	faults := srv.FaultsApplied()
	t.Logf("soak: %v, %d processes × %d workers, portal bucket %.0f/s burst %d", elapsed.Round(time.Second), soakProcs, soakWorkers, soakRate, soakBurst)
	t.Logf("calls: %d succeeded (%d in %d automatic batches), %d errors surfaced and retried by the workers", calls, batched, batches, errs)
	t.Logf("HTTP requests to the portal: %d (batch %d); refusals by the portal: %d", srv.Requests(""), srv.Requests("batch"), srv.QueryLimitRefusals())
	t.Logf("faults injected: %d (%.1f %% of REST requests); operations abandoned: %d", faults, 100*float64(faults)/float64(max(1, srv.Requests("")-srv.Requests("oauth/token"))), len(abandoned))
	t.Logf("token expiries: %d, refreshes: %d; Redis restarted once (%v)", expiries, srv.Refreshes(), restartTook.Round(time.Millisecond))
	t.Logf("options checked: %d, lost writes: %d; field types added: %d, duplicates: %d", len(wantOptions), lost, len(uniq), duplicates)
	t.Logf("latency per call: p50 %v, p99 %v, max %v", p(0.5), p(0.99), p(1))
	t.Logf("log lines scanned for %d secrets: %d", len(secrets), logLines)
	kinds := map[string]int{}
	for _, r := range reports {
		for k, n := range r.ErrorKinds {
			kinds[k] += n
		}
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		t.Logf("surfaced %5d × %s", kinds[k], k)
	}
	for i, r := range reports {
		t.Logf("child %d goroutines: baseline %d, end %d", i, r.Goroutines[0], r.Goroutines[1])
	}
}

// injectFaults keeps about soakFaultRate of each method's requests faulted: 503, 502,
// a reset connection or a timeout (a delay longer than the children's per-attempt
// timeout), in turn.
func injectFaults(ctx context.Context, srv *bitrix24test.Server) {
	kinds := []bitrix24test.Fault{
		bitrix24test.FaultHTML(503), bitrix24test.FaultHTML(502),
		bitrix24test.FaultDrop(), bitrix24test.FaultDelay(2 * time.Second),
	}
	injected := map[string]int{}
	next := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, m := range soakMethods {
			want := int(float64(srv.Requests(m)) * soakFaultRate)
			for ; injected[m] < want; injected[m]++ {
				srv.InjectFault(m, 1, kinds[next%len(kinds)])
				next++
			}
		}
	}
}

// runSoakChildren runs the children and returns their reports.
func runSoakChildren(t *testing.T, spec func(p int) soakSpec) []*soakReport {
	reports := make([]*soakReport, soakProcs)
	var wg sync.WaitGroup
	for p := range soakProcs {
		raw, err := json.Marshal(spec(p))
		require.NoError(t, err)
		cmd := exec.Command(os.Args[0], "-test.run=^TestSoakChild$", "-test.count=1", "-test.v=false")
		cmd.Env = append(os.Environ(), envSoakChild+"="+string(raw))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
			var last string
			for sc.Scan() {
				if line := sc.Text(); strings.HasPrefix(line, "SOAK ") {
					last = line
				}
			}
			if err := cmd.Wait(); err != nil || last == "" {
				t.Errorf("child %d: %v\n%s", p, err, stderr.String())
				return
			}
			var r soakReport
			if err := json.Unmarshal([]byte(strings.TrimPrefix(last, "SOAK ")), &r); err != nil {
				t.Errorf("child %d: %v", p, err)
				return
			}
			reports[p] = &r
		})
	}
	wg.Wait()
	for p, r := range reports {
		if r == nil {
			t.Fatalf("child %d reported nothing", p)
		}
	}
	return reports
}

// persistentRedis is a redis-server with an append-only file, so that a restart keeps
// the pair, the lock and the limiter's state, as a production server's does.
type persistentRedis struct {
	path, dir, addr, port string
	mu                    sync.Mutex
	cmd                   *exec.Cmd
}

func startPersistentRedis(t *testing.T, path string) *persistentRedis {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	require.NoError(t, l.Close())
	r := &persistentRedis{path: path, dir: t.TempDir(), port: port, addr: "127.0.0.1:" + port}
	require.NoError(t, r.start())
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	})
	return r
}

func (r *persistentRedis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmd = exec.Command(r.path, "--port", r.port, "--bind", "127.0.0.1", "--dir", r.dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	for range 200 {
		if rdb.Ping(context.Background()).Err() == nil {
			return nil
		}
		time.Sleep(10*time.Millisecond + time.Duration(rand.IntN(5))*time.Millisecond)
	}
	return fmt.Errorf("redis-server did not answer on %s", r.addr)
}

// restart stops the server as an operator would (SIGTERM: it writes its data and exits)
// and starts it again on the same port and data.
func (r *persistentRedis) restart() error {
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	_ = cmd.Wait()
	return r.start()
}
