package bitrix24redis_test

// One process of the soak (see soak_test.go): a client on the shared Redis limiter and
// token store, auto-batching, and workers that set options, cycle field types and walk
// lists until told to stop, then report what they did.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24redis"
	"github.com/redis/go-redis/v9"
)

const envSoakChild = "BITRIX24REDIS_SOAK_CHILD" // the JSON soakSpec of a child

// soakSpec tells a soak child what to do.
type soakSpec struct {
	Proc         int
	Redis        string
	Portal       string
	ClientID     string
	ClientSecret string
	MemberID     string
	RunFor       time.Duration
	Workers      int
	Rate         float64
	Burst        int
	LogFile      string // slog JSON lines, debug level
	SecretsFile  string // every pair OnTokenRefresh saw, one token a line
}

// soakReport is a child's last line.
type soakReport struct {
	Calls      int               // client calls that returned nil
	Errors     int               // client calls that returned an error (then retried)
	Refusals   []string          // errors of a rate or operating limit: must stay empty
	ErrorKinds map[string]int    // the errors surfaced, by operation and message
	Abandoned  []string          // operations that never succeeded: must stay empty
	Options    map[string]string // option key -> the last value set
	TypesAdded []string          // field types this process added, each once
	Latencies  []int32           // µs of every successful call
	Goroutines [2]int            // baseline, end
	Batches    uint64            // automatic batch requests
	Batched    uint64            // calls sent in them
}

// TestSoakChild is a process of the soak; it does nothing otherwise.
func TestSoakChild(t *testing.T) {
	raw := os.Getenv(envSoakChild)
	if raw == "" {
		t.Skip("a child of the soak")
	}
	var spec soakSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	rep, err := runSoakChild(spec)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(rep)
	fmt.Printf("SOAK %s\n", out)
}

func runSoakChild(spec soakSpec) (*soakReport, error) {
	logFile, err := os.Create(spec.LogFile)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	secrets, err := os.Create(spec.SecretsFile)
	if err != nil {
		return nil, err
	}
	defer secrets.Close()
	var secretsMu sync.Mutex

	rdb := redis.NewClient(&redis.Options{Addr: spec.Redis, DialTimeout: 500 * time.Millisecond,
		ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer rdb.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	c, err := bitrix24.NewOAuthClient(bitrix24.OAuthConfig{
		PortalURL: spec.Portal, ClientID: spec.ClientID, ClientSecret: spec.ClientSecret,
		TokenURL: spec.Portal + "/oauth/token/",
		Store:    bitrix24redis.NewTokenStore(rdb, "soak:"), StoreKey: bitrix24.TokenKey{MemberID: spec.MemberID},
		OnTokenRefresh: func(_ context.Context, tok bitrix24.Token) error {
			secretsMu.Lock()
			defer secretsMu.Unlock()
			_, err := fmt.Fprintf(secrets, "%s\n%s\n", tok.AccessToken, tok.RefreshToken)
			return err
		},
	},
		bitrix24.WithHTTPClient(hc), bitrix24.WithAllowHTTP(),
		bitrix24.WithLimiter(bitrix24redis.NewLimiter(rdb, "soak:rate", spec.Rate, spec.Burst)),
		bitrix24.WithAutoBatch(25*time.Millisecond),
		bitrix24.WithRetry(6, 20*time.Millisecond, 500*time.Millisecond),
		bitrix24.WithTimeout(750*time.Millisecond),
		bitrix24.WithLogger(slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	)
	if err != nil {
		return nil, err
	}
	s := &soakChild{spec: spec, c: c, rep: &soakReport{Options: map[string]string{}}}
	// Warm up (loads the pair), then the baseline: what an idle client keeps.
	s.op("warm-up", func(ctx context.Context) error { return c.Call(ctx, "server.time", nil, nil) })
	hc.CloseIdleConnections()
	s.rep.Goroutines[0] = settledGoroutines(-1)

	stopAt := time.Now().Add(spec.RunFor)
	var wg sync.WaitGroup
	for w := range spec.Workers {
		wg.Go(func() { s.worker(w, stopAt) })
	}
	wg.Wait()
	hc.CloseIdleConnections()
	s.rep.Goroutines[1] = settledGoroutines(s.rep.Goroutines[0])
	st := c.AutoBatchStats()
	s.rep.Batches, s.rep.Batched = st.Batches, st.Calls
	return s.rep, nil
}

// settledGoroutines waits up to 5 s for the count to reach want (-1: to stop changing).
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for range 100 {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if (want >= 0 && m <= want) || (want < 0 && m == n) {
			return m
		}
		n = m
	}
	return n
}

type soakChild struct {
	spec soakSpec
	c    *bitrix24.Client
	mu   sync.Mutex
	rep  *soakReport
}

// call runs one client call, timing and classifying it.
func (s *soakChild) call(ctx context.Context, what string, f func(context.Context) error) error {
	start := time.Now()
	err := f(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.rep.Calls++
		s.rep.Latencies = append(s.rep.Latencies, int32(time.Since(start)/time.Microsecond))
		return nil
	}
	s.rep.Errors++
	if s.rep.ErrorKinds == nil {
		s.rep.ErrorKinds = map[string]int{}
	}
	kind := strings.Fields(what)[0] + ": " + err.Error()
	if len(kind) > 160 {
		kind = kind[:160]
	}
	s.rep.ErrorKinds[kind]++
	if errors.Is(err, bitrix24.ErrQueryLimitExceeded) || errors.Is(err, bitrix24.ErrOperationTimeLimit) || errors.Is(err, bitrix24.ErrOverloadLimit) {
		s.rep.Refusals = append(s.rep.Refusals, what+": "+err.Error())
	}
	return err
}

// op runs f until it succeeds (a minute at most): what the application does after a
// failure it cannot tell from success (a reset, a timeout, Redis restarting). check,
// when not nil, first asks the portal whether the failed attempt took effect after all.
func (s *soakChild) op(what string, f func(context.Context) error) {
	s.opCheck(what, f, nil)
}

func (s *soakChild) opCheck(what string, f func(context.Context) error, done func(context.Context) (bool, error)) {
	deadline := time.Now().Add(time.Minute)
	failed := false
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if failed && done != nil {
			ok, err := done(ctx)
			if err == nil && ok {
				cancel()
				return
			}
			if err != nil {
				cancel()
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		err := s.call(ctx, what, f)
		cancel()
		if err == nil {
			return
		}
		failed = true
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	s.rep.Abandoned = append(s.rep.Abandoned, what)
	s.mu.Unlock()
}

// worker sets its options, and every few rounds cycles a field type and walks a list.
func (s *soakChild) worker(w int, stopAt time.Time) {
	for round := 0; time.Now().Before(stopAt); round++ {
		key := fmt.Sprintf("p%dw%dk%d", s.spec.Proc, w, round%4)
		value := fmt.Sprintf("v%d", round)
		s.op("set "+key, func(ctx context.Context) error {
			return s.c.UserOption.Set(ctx, map[string]any{key: value})
		})
		s.mu.Lock()
		s.rep.Options[key] = value
		s.mu.Unlock()
		switch round % 8 {
		case 3:
			s.fieldTypeCycle(fmt.Sprintf("soak%dw%dn%d", s.spec.Proc, w, round))
		case 7:
			if round%16 == 7 {
				s.op("scan", func(ctx context.Context) error {
					for _, err := range s.c.Scan(ctx, "crm.item.list", map[string]any{"entityTypeId": 2}) {
						if err != nil {
							return err
						}
					}
					return nil
				})
			} else {
				s.op("list", func(ctx context.Context) error {
					for _, err := range s.c.List(ctx, "userfieldtype.list", nil) {
						if err != nil {
							return err
						}
					}
					return nil
				})
			}
		}
	}
}

// fieldTypeCycle adds, updates and deletes one field type. An add or delete that failed
// ambiguously is checked against the portal's list before it is sent again: a field type
// must never be added twice.
func (s *soakChild) fieldTypeCycle(id string) {
	ft := bitrix24.UserFieldType{UserTypeID: id, Handler: "https://app.example/soak/" + id, Title: "Soak " + id}
	exists := func(ctx context.Context) (bool, error) {
		types, err := s.c.UserFieldType.List(ctx)
		if err != nil {
			return false, err
		}
		for _, t := range types {
			if t.UserTypeID == id {
				return true, nil
			}
		}
		return false, nil
	}
	s.opCheck("add "+id, func(ctx context.Context) error { return s.c.UserFieldType.Add(ctx, ft) }, exists)
	s.mu.Lock()
	s.rep.TypesAdded = append(s.rep.TypesAdded, id)
	s.mu.Unlock()
	ft.Title = "Soak " + id + " updated"
	s.op("update "+id, func(ctx context.Context) error { return s.c.UserFieldType.Update(ctx, ft) })
	s.opCheck("delete "+id, func(ctx context.Context) error { return s.c.UserFieldType.Delete(ctx, id) },
		func(ctx context.Context) (bool, error) {
			ok, err := exists(ctx)
			return !ok, err
		})
}
