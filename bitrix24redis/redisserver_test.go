package bitrix24redis_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/b24go/bitrix24/bitrix24redis"
	"github.com/redis/go-redis/v9"
)

// testRedis is a Redis server of one test: Debian's redis-server when it is on PATH,
// otherwise an embedded miniredis (so that `go test ./...` passes on a fresh clone). With
// CI=true a missing redis-server fails the test instead: CI must test against the real
// thing.
type testRedis struct {
	Addr string
	Real bool // a redis-server process, not miniredis

	mu     sync.Mutex
	cmd    *exec.Cmd
	waited chan struct{}
	mini   *miniredis.Miniredis
}

func startRedis(tb testing.TB) *testRedis {
	tb.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but redis-server is not on PATH (apt-get install redis-server): %v", err)
		}
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			tb.Fatalf("starting miniredis: %v", err)
		}
		// miniredis lets keys expire only when told to: make its TTLs follow the real
		// clock, as a real server's do.
		const tick = 10 * time.Millisecond
		stopTicks := bitrix24redis.EveryTick(tick, func() bool { m.FastForward(tick); return true })
		tb.Cleanup(func() { stopTicks(); m.Close() })
		return &testRedis{Addr: m.Addr(), mini: m}
	}
	var lastErr error
	for range 5 { // the free port may be taken between closing it and redis-server binding it
		r, err := startRedisServer(path)
		if err == nil {
			tb.Cleanup(r.Kill)
			return r
		}
		lastErr = err
	}
	tb.Fatalf("starting redis-server: %v", lastErr)
	return nil
}

func startRedisServer(path string) (*testRedis, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var out bytes.Buffer
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &testRedis{Addr: addr, Real: true, cmd: cmd, waited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.waited) }()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return r, nil
		}
		select {
		case <-r.waited:
			return nil, &startError{out: out.String(), err: err}
		default:
		}
		if time.Now().After(deadline) {
			r.Kill()
			return nil, &startError{out: out.String(), err: err}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type startError struct {
	out string
	err error
}

func (e *startError) Error() string { return e.err.Error() + "; redis-server said: " + e.out }

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Kill stops the server at once, as a crash would (SIGKILL; miniredis: Close).
func (r *testRedis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mini != nil {
		r.mini.Close()
		return
	}
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		<-r.waited
	}
}

// client returns a go-redis client of r, closed when the test ends.
func (r *testRedis) client(tb testing.TB) *redis.Client {
	tb.Helper()
	return newClient(tb, r.Addr)
}

func newClient(tb testing.TB, addr string) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(tb testing.TB) string {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// silentAddr is a loopback address that accepts connections and never answers: a Redis
// that hangs.
func silentAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}
