package bitrix24_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// envOfflineChild carries the portal and the pair to TestOfflineConsumerChild.
const envOfflineChild = "BITRIX24_TEST_OFFLINE_CHILD"

// The at-least-once property with a real crash: a consumer process (this test binary,
// re-executed) reserves a page, handles every event of it, and is killed (SIGKILL)
// before the loop asks for the next page, hence before the clear. A fresh consumer
// then gets the same events again, and clears them.
func TestOfflineConsumerKilledBetweenFetchAndClear(t *testing.T) {
	if os.Getenv(envOfflineChild) != "" {
		t.Skip("child process")
	}
	if testing.Short() {
		t.Skip("starts an OS process")
	}
	srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0), bitrix24test.WithPlainHTTP(),
		bitrix24test.WithScope("crm,user"))
	t.Cleanup(srv.Close)
	app := srv.NewClient()
	bindOffline(t, app, "", "ONCRMDEALADD")
	other, err := bitrix24.NewOAuthClient(srv.InstallApp("crm"), bitrix24.WithAllowHTTP(), bitrix24.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	var ids []int
	for i := range 3 {
		ids = append(ids, addDeal(t, other, "deal "+strconv.Itoa(i)))
	}

	cfg := srv.OAuthConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestOfflineConsumerChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envOfflineChild+"="+strings.Join([]string{srv.URL, cfg.ClientID, cfg.ClientSecret,
		cfg.Token.AccessToken, cfg.Token.RefreshToken}, " "))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())

	var handled []int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "HANDLED "); ok {
			n, err := strconv.Atoi(id)
			require.NoError(t, err)
			handled = append(handled, n)
		}
		if line == "PAGE DONE" {
			break
		}
	}
	require.Equal(t, ids, handled, "the child handled the whole page")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	_, _ = io.Copy(io.Discard, stdout)

	assert.Empty(t, srv.RequestLog().ForMethod("event.offline.clear"), "the child died before clearing")
	recs := srv.OfflineEvents()
	require.Len(t, recs, 3)
	assert.NotEmpty(t, recs[0].ProcessID, "the page is still reserved")

	var again []int
	for _, ev := range drain(t, srv.NewClient()) {
		again = append(again, dealIDOf(t, ev))
	}
	assert.Equal(t, ids, again, "a fresh consumer gets the killed consumer's page again")
	assert.Empty(t, srv.OfflineEvents(), "and clears it")
}

// TestOfflineConsumerChild is the consumer of TestOfflineConsumerKilledBetweenFetchAndClear:
// it prints each event it handles, then waits (between fetch and clear) for its end.
func TestOfflineConsumerChild(t *testing.T) {
	spec := os.Getenv(envOfflineChild)
	if spec == "" {
		t.Skip("run by TestOfflineConsumerKilledBetweenFetchAndClear")
	}
	f := strings.Fields(spec)
	require.Len(t, f, 5)
	c, err := bitrix24.NewOAuthClient(bitrix24.OAuthConfig{
		PortalURL: f[0], ClientID: f[1], ClientSecret: f[2], TokenURL: f[0] + "/oauth/token/",
		Token: bitrix24.Token{AccessToken: f[3], RefreshToken: f[4]},
	}, bitrix24.WithAllowHTTP(), bitrix24.WithRateLimit(0, 0), bitrix24.WithRetry(3, time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	n := 0
	for ev, err := range c.Event.Offline(context.Background(), bitrix24.OfflinePageSize(3)) {
		require.NoError(t, err)
		fmt.Printf("HANDLED %d\n", dealIDOf(t, ev))
		if n++; n == 3 {
			fmt.Println("PAGE DONE")
			// Handled, not cleared: the clear would go out when the loop asks for more.
			// Wait for the parent's kill; if the parent is gone, stdin ends: exit
			// without clearing all the same.
			_, _ = io.Copy(io.Discard, os.Stdin)
			os.Exit(3)
		}
	}
	t.Fatal("the page ended before its third event")
}
