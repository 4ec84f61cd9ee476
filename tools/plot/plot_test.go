package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every chart renders from `go test -bench` output into a PNG of the documented size
// that is not blank.
func TestRunWritesThePNGs(t *testing.T) {
	dir := t.TempDir()
	var log bytes.Buffer
	var inputs []string
	for _, name := range []string{"bench.txt", "autobatch.txt", "lists.txt", "packed.txt", "operating.txt"} {
		inputs = append(inputs, filepath.Join("testdata", name))
	}
	if err := run(dir, inputs, &log); err != nil {
		t.Fatal(err)
	}
	for _, c := range charts {
		path := filepath.Join(dir, c.file)
		if !strings.Contains(log.String(), "wrote "+path) {
			t.Errorf("log %q does not report %s", log.String(), path)
		}
		img := decodePNG(t, path)
		if got := img.Bounds().Size(); got != (image.Point{X: widthPx, Y: heightPx}) {
			t.Errorf("%s is %v, want %dx%d", c.file, got, widthPx, heightPx)
		}
		if colors := distinctColors(img); colors < 4 {
			t.Errorf("%s has %d colours: nothing drawn", c.file, colors)
		}
	}
}

// A chart whose benchmark is missing is skipped; with nothing to plot, run fails.
func TestRunSkipsMissingCharts(t *testing.T) {
	dir := t.TempDir()
	only := linesOf(t, "bench.txt", "BenchmarkRateLimited", filepath.Join(dir, "ratelimited.txt"))
	var log bytes.Buffer
	if err := run(dir, []string{only}, &log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ratelimit.png")); err != nil {
		t.Error(err)
	}
	for _, skipped := range []string{"throughput.png", "payload.png", "autobatch.png", "lists.png", "packed.png", "operating.png"} {
		if _, err := os.Stat(filepath.Join(dir, skipped)); err == nil {
			t.Errorf("%s written without data", skipped)
		}
		if !strings.Contains(log.String(), skipped+": skipped") {
			t.Errorf("log %q does not report %s skipped", log.String(), skipped)
		}
	}

	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("PASS\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(dir, []string{empty}, &log); err == nil {
		t.Error("run with no results succeeded")
	}
	if err := run(dir, []string{filepath.Join(dir, "missing.txt")}, &log); err == nil {
		t.Error("run with a missing input succeeded")
	}
}

// A chart with one of its lines missing is skipped, naming the missing benchmark.
func TestRunSkipsAChartWithALineMissing(t *testing.T) {
	dir := t.TempDir()
	listOnly := linesOf(t, "lists.txt", "BenchmarkListPage/walk=list/", filepath.Join(dir, "lists.txt"))
	var log bytes.Buffer
	if err := run(dir, []string{listOnly, filepath.Join("testdata", "autobatch.txt")}, &log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lists.png")); err == nil {
		t.Error("lists.png written without the Scan line")
	}
	if want := "lists.png: skipped: ListPage/walk=scan/offset=0, db-us/page"; !strings.Contains(log.String(), want) {
		t.Errorf("log %q does not contain %q", log.String(), want)
	}
	if _, err := os.Stat(filepath.Join(dir, "autobatch.png")); err != nil {
		t.Error(err)
	}
}

func TestParseMedians(t *testing.T) {
	r := results{}
	in := "goos: linux\nBenchmarkX/n=1-2  10  300 ns/op  5 allocs/op\nBenchmarkX/n=1-2  10  100 ns/op  7 allocs/op\n" +
		"BenchmarkX/n=1-2  10  200 ns/op  6 allocs/op\nBenchmarkX/n=1-2  10  900 ns/op  6 allocs/op\nPASS\n"
	if err := r.parse(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if m, ok := r.median("X/n=1", "ns/op"); !ok || m != 250 {
		t.Errorf("median ns/op = %v, %v; want 250", m, ok)
	}
	if m, ok := r.median("X/n=1", "allocs/op"); !ok || m != 6 {
		t.Errorf("median allocs/op = %v, %v; want 6", m, ok)
	}
	if _, ok := r.median("Y", "ns/op"); ok {
		t.Error("median of a missing benchmark")
	}
	if err := r.parse(strings.NewReader("BenchmarkX-2 1 abc ns/op\n")); err == nil {
		t.Error("a malformed value was accepted")
	}
}

// linesOf writes the lines of testdata/name that start with prefix to path, and
// returns path.
func linesOf(t *testing.T, name, prefix, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, prefix) {
			lines = append(lines, l)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func distinctColors(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}
