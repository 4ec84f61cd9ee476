package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// eventsPortal is a fake portal over loopback HTTP that outlives the runs of the
// command, with the application's pair in a token file and a second application that
// plays the users changing deals.
type eventsPortal struct {
	srv   *bitrix24test.Server
	args  []string // the credentials flags
	users *bitrix24.Client
}

func newEventsPortal(t *testing.T) *eventsPortal {
	t.Helper()
	srv := bitrix24test.New(t, bitrix24test.WithPlainHTTP(), bitrix24test.WithScope("crm,user"))
	cfg := srv.OAuthConfig()
	path := filepath.Join(t.TempDir(), "token.json")
	store, err := bitrix24.NewFileTokenStoreAt(path)
	require.NoError(t, err)
	require.NoError(t, store.Save(context.Background(), bitrix24.TokenKey{MemberID: cfg.Token.MemberID, UserID: cfg.Token.UserID}, cfg.Token))
	users, err := bitrix24.NewOAuthClient(srv.InstallApp("crm"), bitrix24.WithAllowHTTP(), bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	return &eventsPortal{srv: srv, users: users, args: []string{
		"--auth", "oauth", "--client-id", cfg.ClientID, "--client-secret", cfg.ClientSecret, "--token-file", path,
		"--portal-url", srv.URL, "--token-url", srv.TokenURL(), "--allow-http", "--rate", "0",
	}}
}

// run runs the command with the portal's credentials and returns stdout, stderr and the
// exit status.
func (p *eventsPortal) run(ctx context.Context, stdout *syncBuffer, args ...string) (string, int) {
	var stderr bytes.Buffer
	code := run(ctx, append(append([]string{}, p.args...), args...), strings.NewReader(""), stdout, &stderr,
		func(string) string { return "" })
	return stderr.String(), code
}

func (p *eventsPortal) addDeals(t *testing.T, n int) []int {
	t.Helper()
	var ids []int
	for i := range n {
		var res struct {
			Item struct {
				ID int `json:"id"`
			} `json:"item"`
		}
		require.NoError(t, p.users.Call(context.Background(), "crm.item.add",
			map[string]any{"entityTypeId": 2, "fields": map[string]any{"title": "deal " + strconv.Itoa(i)}}, &res))
		ids = append(ids, res.Item.ID)
	}
	return ids
}

// syncBuffer is stdout for a run: safe to read while the run writes, and it can tell the
// test when a line arrived.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	onLine func()
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	f := b.onLine
	b.mu.Unlock()
	if f != nil && bytes.Contains(p, []byte("\n")) {
		f()
	}
	return n, err
}

// dealIDs reads the deal id of every printed event line.
func (b *syncBuffer) dealIDs(t *testing.T) []int {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []int
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var ev struct {
			Event string `json:"event"`
			Data  struct {
				Fields struct {
					ID int `json:"ID"`
				} `json:"FIELDS"`
			} `json:"data"`
			MessageID string `json:"message_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &ev), line)
		require.Equal(t, "ONCRMDEALADD", ev.Event)
		require.Len(t, ev.MessageID, 32)
		ids = append(ids, ev.Data.Fields.ID)
	}
	return ids
}

func TestEventsBindAndTailClearOnlyWhatWasPrinted(t *testing.T) {
	p := newEventsPortal(t)
	ctx := context.Background()
	stderr, code := p.run(ctx, &syncBuffer{}, "events", "bind", "ONCRMDEALADD", "--offline")
	require.Equal(t, 0, code, stderr)
	var list syncBuffer
	stderr, code = p.run(ctx, &list, "events", "list")
	require.Equal(t, 0, code, stderr)
	assert.JSONEq(t, `{"event":"ONCRMDEALADD","offline":true}`, strings.TrimSpace(list.buf.String()))

	ids := p.addDeals(t, 3)
	var first syncBuffer
	stderr, code = p.run(ctx, &first, "events", "tail", "--limit", "2", "--page-size", "3")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, ids[:2], first.dealIDs(t))
	left := p.srv.OfflineEvents()
	require.Len(t, left, 1, "the two printed events were cleared, the third was not")
	assert.NotEmpty(t, left[0].ProcessID, "it stays reserved")

	var second syncBuffer
	stderr, code = p.run(ctx, &second, "events", "tail")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, ids[2:], second.dealIDs(t), "the next run prints the rest of the page")
	assert.Empty(t, p.srv.OfflineEvents())
}

func TestEventsTailFollowInterruptedClearsWhatItPrinted(t *testing.T) {
	p := newEventsPortal(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, code := p.run(ctx, &syncBuffer{}, "events", "bind", "ONCRMDEALADD", "--offline")
	require.Equal(t, 0, code)
	ids := p.addDeals(t, 3)

	out := &syncBuffer{onLine: cancel} // the user presses Ctrl-C after the first line
	stderr, code := p.run(ctx, out, "events", "tail", "--follow", "--interval", "1ms", "--page-size", "3")
	assert.Equal(t, exitInterrupted, code, stderr)
	assert.Equal(t, ids[:1], out.dealIDs(t), "nothing more is printed after the interrupt")
	assert.Len(t, p.srv.OfflineEvents(), 2, "exactly the printed event was cleared")
}

func TestEventsBindRefusedBeforeSending(t *testing.T) {
	p := newEventsPortal(t)
	stderr, code := p.run(context.Background(), &syncBuffer{}, "events", "bind", "ONCRMDEALADD")
	assert.Equal(t, exitValidation, code, stderr)
	assert.Contains(t, stderr, "--handler")
	assert.Zero(t, p.srv.Requests("event.bind"))
}

// A connector's queue: tail --connector reads it and clears the printed events in it (the
// clear carries the connector too), leaving the rest of the page for the next run.
func TestEventsTailConnectorClearsOnlyWhatWasPrinted(t *testing.T) {
	p := newEventsPortal(t)
	ctx := context.Background()
	stderr, code := p.run(ctx, &syncBuffer{}, "events", "bind", "ONCRMDEALADD", "--offline", "--connector", "erp-sync")
	require.Equal(t, 0, code, stderr)
	ids := p.addDeals(t, 3)
	require.Len(t, p.srv.OfflineEvents(), 3)

	var first syncBuffer
	stderr, code = p.run(ctx, &first, "events", "tail", "--connector", "erp-sync", "--limit", "1", "--page-size", "3")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, ids[:1], first.dealIDs(t))
	assert.Len(t, p.srv.OfflineEvents(), 2, "exactly the printed event was cleared")

	var none syncBuffer
	stderr, code = p.run(ctx, &none, "events", "tail")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, none.dealIDs(t), "the queue without a connector is another queue")
	assert.Len(t, p.srv.OfflineEvents(), 2)

	var second syncBuffer
	stderr, code = p.run(ctx, &second, "events", "tail", "--connector", "erp-sync")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, ids[1:], second.dealIDs(t))
	assert.Empty(t, p.srv.OfflineEvents())
}

// failAfter is a stdout that takes n lines and then fails, as a closed pipe does.
type failAfter struct {
	syncBuffer
	n int
}

func (w *failAfter) Write(p []byte) (int, error) {
	w.mu.Lock()
	full := w.n <= 0
	w.n--
	w.mu.Unlock()
	if full {
		return 0, errors.New("write |1: broken pipe")
	}
	return w.syncBuffer.Write(p)
}

// A stdout that fails mid-page (the reader of the pipe went away): the event whose line
// did not go out stays in the queue with the rest of the page; the printed ones are
// cleared; the run fails, and stderr names the write.
func TestEventsTailStdoutClosedClearsOnlyWhatWasPrinted(t *testing.T) {
	p := newEventsPortal(t)
	ctx := context.Background()
	stderr, code := p.run(ctx, &syncBuffer{}, "events", "bind", "ONCRMDEALADD", "--offline")
	require.Equal(t, 0, code, stderr)
	ids := p.addDeals(t, 3)

	var errOut bytes.Buffer
	out := &failAfter{n: 1}
	code = run(ctx, append(append([]string{}, p.args...), "events", "tail", "--page-size", "3"),
		strings.NewReader(""), out, &errOut, func(string) string { return "" })
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut.String(), "broken pipe")
	assert.Equal(t, ids[:1], out.dealIDs(t))
	assert.Len(t, p.srv.OfflineEvents(), 2, "only the printed event was cleared")

	var rest syncBuffer
	stderr, code = p.run(ctx, &rest, "events", "tail")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, ids[1:], rest.dealIDs(t), "the next run prints the rest")
}
