package browsertest

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// bx24URL is where a field type's page loads the BX24 library from.
const bx24URL = "https://api.bitrix24.com/api/v1/"

// testTimeout bounds each browser test: every wait below ends with it.
const testTimeout = 90 * time.Second

// waitTimeout bounds one wait for the page (the pages answer in milliseconds; this
// leaves room for a machine busy compiling).
const waitTimeout = 15 * time.Second

// chromiumPath finds Chromium: $CHROMIUM, then chromium on PATH, then /usr/bin/chromium.
// Without one the test skips, or fails when CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("CHROMIUM")}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			candidates = append(candidates, p)
		}
	}
	candidates = append(candidates, "/usr/bin/chromium")
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is missing (CI=true): install the Debian package chromium or set $CHROMIUM")
	}
	t.Skip("Chromium is not installed (set $CHROMIUM); the browser tests skip")
	return ""
}

// browser is one headless Chromium with a fresh profile and one tab. It answers the
// BX24 library and the portal's pages itself (Fetch domain), lets requests to the
// application's loopback server through, and refuses and records everything else.
type browser struct {
	t   *testing.T
	ctx context.Context

	appOrigin string // requests to it go through to the real server

	mu         sync.Mutex
	pages      map[string]string // URL -> HTML served for it
	origins    map[string]bool   // the origins of pages: anything else there is a 404
	stubLoads  int               // requests for the BX24 library
	foreign    []string          // refused requests
	exceptions []string          // uncaught exceptions of any frame
	console    []string          // every console message and browser log entry
}

// newBrowser starts Chromium for a test. appOrigin is the application server's origin;
// certs are the TLS certificates Chromium may accept (by public key, nothing else).
func newBrowser(t *testing.T, appOrigin string, certs ...*x509.Certificate) *browser {
	t.Helper()
	path := chromiumPath(t)
	var spki []string
	for _, c := range certs {
		sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
		spki = append(spki, base64.StdEncoding.EncodeToString(sum[:]))
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The portal's pages come from the test (Fetch.fulfillRequest), so Chromium counts
		// them as public pages, and would refuse their frames on the loopback application
		// server (Local Network Access); on a real portal both are public hosts.
		chromedp.Flag("disable-features", "LocalNetworkAccessChecks"),
		chromedp.WindowSize(640, 360),
	}
	if len(spki) > 0 {
		// Trusts the test servers' certificate only (honoured with --user-data-dir).
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(spki, ",")))
	}
	timeout, cancelTimeout := context.WithTimeout(context.Background(), testTimeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(timeout, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelTimeout()
	})
	b := &browser{t: t, ctx: ctx, appOrigin: appOrigin, pages: map[string]string{}, origins: map[string]bool{}}

	// Start the browser, then intercept every request before the first navigation.
	require.NoError(t, chromedp.Do(ctx), "starting Chromium")
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			b.route(ev)
		}
	}()
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, string(m.Type)+": "+m.Text)
			if m.IsException() {
				b.exceptions = append(b.exceptions, m.URL+": "+m.Text)
			}
			b.mu.Unlock()
		}
	}()
	_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}})
	require.NoError(t, err, "Fetch.enable")
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.foreign) > 0 {
			t.Errorf("the page asked for what is neither the portal, the application nor BX24: %q", b.foreign)
		}
	})
	return b
}

// route answers one paused request.
func (b *browser) route(ev fetch.EventRequestPaused) {
	u := ev.Request.URL
	b.mu.Lock()
	html, isPage := b.pages[u]
	isStub := strings.HasPrefix(u, bx24URL)
	if isStub {
		b.stubLoads++
	}
	origin := originOf(u)
	toApp := origin == b.appOrigin
	notFound := !isPage && !isStub && !toApp && b.origins[origin] // e.g. /favicon.ico
	if !isPage && !isStub && !toApp && !notFound {
		b.foreign = append(b.foreign, u)
	}
	b.mu.Unlock()

	var cerr error
	switch {
	case isStub:
		_, cerr = chromedp.Call(b.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
			RequestID:    ev.RequestID,
			ResponseCode: 200,
			ResponseHeaders: []*fetch.HeaderEntry{
				{Name: "Content-Type", Value: "application/javascript; charset=utf-8"},
				{Name: "Cache-Control", Value: "no-store"},
			},
			Body: []byte(bx24Stub),
		})
	case isPage:
		_, cerr = chromedp.Call(b.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
			RequestID:       ev.RequestID,
			ResponseCode:    200,
			ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}},
			Body:            []byte(html),
		})
	case notFound:
		_, cerr = chromedp.Call(b.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 404})
	case toApp:
		_, cerr = chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
	default:
		_, cerr = chromedp.Call(b.ctx, fetch.FailRequest, fetch.FailRequestParams{
			RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient,
		})
	}
	if cerr != nil && b.ctx.Err() == nil {
		b.t.Logf("answering the paused request %s: %v", u, cerr)
	}
}

// originOf is scheme://host[:port] of u ("" when u does not parse).
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// open shows html at pageURL (the browser asks for it, the test answers) and waits
// until the frame in it has loaded a document, whatever it is.
func (b *browser) open(pageURL, html string) {
	b.t.Helper()
	b.mu.Lock()
	b.pages[pageURL] = html
	b.origins[originOf(pageURL)] = true
	b.mu.Unlock()
	require.NoError(b.t, chromedp.Do(b.ctx, chromedp.Navigate(pageURL)), "opening %s", pageURL)
	b.waitTop("window.portal && portal.loads >= 1")
}

// waitTop waits until the expression is truthy in the portal's page.
func (b *browser) waitTop(expr string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(waitTimeout)))
	require.NoError(b.t, err, "waiting in the portal's page for %s; uncaught exceptions: %q", expr, b.uncaught())
}

// frame is the node of the application's iframe.
func (b *browser) frame() *chromedp.Node {
	b.t.Helper()
	nodes, err := chromedp.Run(b.ctx, chromedp.Nodes(chromedp.CSS("#appframe")))
	require.NoError(b.t, err)
	require.Len(b.t, nodes, 1)
	return nodes[0]
}

// inFrame evaluates expr in the application's frame.
func inFrame[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Poll[struct{ V T }]("({V: ("+expr+")})",
		chromedp.WithPollingInFrame(b.frame()), chromedp.WithPollingTimeout(waitTimeout)))
	require.NoError(b.t, err, "evaluating %s in the application's frame", expr)
	return v.V
}

// inTop evaluates expr in the portal's page.
func inTop[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	require.NoError(b.t, err, "evaluating %s in the portal's page", expr)
	return v
}

// childFrame is the frame tree's entry for the application's iframe.
func (b *browser) childFrame() *cdp.Frame {
	b.t.Helper()
	tree, err := chromedp.Call(b.ctx, page.GetFrameTree, cdp.Empty{})
	require.NoError(b.t, err)
	require.Len(b.t, tree.FrameTree.ChildFrames, 1, "the portal's page has one frame")
	return tree.FrameTree.ChildFrames[0].Frame
}

// click clicks, with the mouse, the element of the application's frame that sel finds.
func (b *browser) click(sel string) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(sel), chromedp.FromNode(b.frame()))), "clicking %s", sel)
}

// typeInto empties the frame's (untouched) input sel, types text and leaves the field
// with Tab, which fires change.
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	in := chromedp.FromNode(b.frame())
	require.NoError(b.t, chromedp.Do(b.ctx,
		chromedp.Clear(chromedp.CSS(sel), in),
		chromedp.SendKeys(chromedp.CSS(sel), text+"\t", in),
	), "typing into %s", sel)
}

// screenshot captures the whole page as PNG.
func (b *browser) screenshot() []byte {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	return png
}

func (b *browser) stubLoadCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stubLoads
}

func (b *browser) uncaught() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.exceptions...)
}

func (b *browser) refused() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.foreign...)
}

// logged reports whether a console message or browser log entry containing s comes
// (they arrive on their own goroutine: it waits up to 5 seconds).
func (b *browser) logged(s string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, m := range b.consoleLog() {
			if strings.Contains(m, s) {
				return true
			}
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (b *browser) consoleLog() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}
