package bitrix24_test

// BenchmarkMultiProcessOperatingBudget: 4 OS processes (this test binary re-executed as
// TestOperatingHelperProcess, the way bitrix24redis/multiprocess_bench_test.go runs its
// children), each an exporter of opWorkers pages at a time with the default budget,
// against one bitrix24test portal served by the parent, for 30 minutes of the portal's
// clock (opSpeedup times real time). They share one budget, the application's, and see
// each other only through the figure the portal reports: no store is shared.
//
//	go test -run='^$' -bench='^BenchmarkMultiProcessOperatingBudget$' -benchtime=1x .

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
)

const (
	opHelperEnv = "BITRIX24_OPERATING_HELPER" // the JSON opHelperSpec of a child
	opProcs     = 4
)

// opHelperSpec tells a child what to do; the clock's base comes on stdin with "go".
type opHelperSpec struct {
	Portal, ClientID, ClientSecret string
	Token                          bitrix24.Token
	Minutes                        int
	Speed                          float64
}

// TestOperatingHelperProcess is a child of BenchmarkMultiProcessOperatingBudget; it does
// nothing otherwise.
func TestOperatingHelperProcess(t *testing.T) {
	raw := os.Getenv(opHelperEnv)
	if raw == "" {
		t.Skip("a child of BenchmarkMultiProcessOperatingBudget")
	}
	var spec opHelperSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	fmt.Println("READY")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "go ")), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	k := simClock{real: time.Unix(0, ns), speed: spec.Speed}
	cfg := bitrix24.OAuthConfig{PortalURL: spec.Portal, ClientID: spec.ClientID, ClientSecret: spec.ClientSecret,
		TokenURL: spec.Portal + "/oauth/token/", Token: spec.Token}
	c, err := opClient(cfg, k, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(k.real))
	st := export(c, k, opSimBase.Add(time.Duration(spec.Minutes)*time.Minute), opWorkers)
	out, _ := json.Marshal(st)
	fmt.Printf("RESULT %s\n", out)
}

func BenchmarkMultiProcessOperatingBudget(b *testing.B) {
	for range b.N {
		// The portal's clock starts when the children are ready: until then it stands
		// at opSimBase.
		var base atomic.Int64
		portalClock := func() time.Time {
			if ns := base.Load(); ns != 0 {
				return simClock{real: time.Unix(0, ns), speed: opSpeed()}.now()
			}
			return opSimBase
		}
		srv := opPortal(portalClock)
		cfg := srv.OAuthConfig()
		spec, err := json.Marshal(opHelperSpec{Portal: srv.URL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			Token: cfg.Token, Minutes: int(opMinutes() / time.Minute), Speed: opSpeed()})
		if err != nil {
			b.Fatal(err)
		}
		kids := make([]*opChild, opProcs)
		for i := range kids {
			kids[i] = startOpChild(b, string(spec))
		}
		for i, k := range kids {
			if _, ok := k.await("READY", time.Minute); !ok {
				b.Fatalf("child %d did not start:\n%s", i, k.output.String())
			}
		}
		start := time.Now().Add(200 * time.Millisecond)
		base.Store(start.UnixNano())
		for _, k := range kids {
			if _, err := fmt.Fprintf(k.stdin, "go %d\n", start.UnixNano()); err != nil {
				b.Fatal(err)
			}
		}
		var all []exportStats
		for i, k := range kids {
			line, ok := k.await("RESULT", simClock{speed: opSpeed()}.realOf(opMinutes())+time.Minute)
			if !ok {
				b.Fatalf("child %d gave no result:\n%s", i, k.output.String())
			}
			var st exportStats
			if err := json.Unmarshal([]byte(line), &st); err != nil {
				b.Fatal(err)
			}
			all = append(all, st)
		}
		minUsed, refusals := report(b, srv, all, int(opMinutes()/opWindow))
		if refusals != 0 || minUsed < 85 && !testing.Short() {
			b.Errorf("4 processes: %d OPERATION_TIME_LIMIT, %.1f %% of the limit used (want 0, ≥ 85 %%)", refusals, minUsed)
		}
		srv.Close()
	}
}

// opChild is one running helper process.
type opChild struct {
	stdin  io.Writer
	lines  chan string
	output strings.Builder
}

func startOpChild(b *testing.B, spec string) *opChild {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOperatingHelperProcess$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), opHelperEnv+"="+spec)
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
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	k := &opChild{stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			k.lines <- sc.Text()
		}
		close(k.lines)
	}()
	return k
}

// await reads lines until one starts with prefix.
func (k *opChild) await(prefix string, timeout time.Duration) (string, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-k.lines:
			if !ok {
				return "", false
			}
			if strings.HasPrefix(line, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(line, prefix)), true
			}
			if k.output.Len() < 64<<10 {
				k.output.WriteString(line + "\n")
			}
		case <-deadline:
			return "", false
		}
	}
}
