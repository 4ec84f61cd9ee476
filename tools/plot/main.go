// Command plot draws the PNG plots of docs/performance.md from `go test -bench`
// output, with gonum.org/v1/plot. It is a module of its own, so the library's go.mod
// does not list gonum:
//
//	go run ./tools/plot -out docs docs/bench/bench.txt docs/bench/ratelimited.txt \
//		docs/bench/autobatch.txt docs/bench/lists.txt docs/bench/packed.txt docs/bench/operating.txt
//
// (from the repository root, whose go.work includes this module). It reads every
// benchmark line of the inputs, takes the median of each metric per benchmark, and
// writes:
//
//   - throughput.png: calls per second (1e9 / ns/op) against goroutines, raw net/http
//     and the SDK (BenchmarkParallel);
//   - ratelimit.png: wall time against n under a rate limit, measured and ideal
//     (BenchmarkRateLimited);
//   - payload.png: time per call against the size of the answer (BenchmarkPayload);
//   - autobatch.png: wall time, requests and 503s of n concurrent calls with and
//     without WithAutoBatch (BenchmarkAutoBatch);
//   - lists.png: modelled database time of one page against its offset, List and Scan
//     (BenchmarkListPage);
//   - packed.png: wall time (fake clock) of a Scan export against its rows, one, 10
//     and 50 pages a request, heavy and cheap pages (BenchmarkScanPacked);
//   - operating.png: server time used per 10 minutes against the operating-time limit,
//     without and with the budget and by 4 processes (BenchmarkOperatingExport,
//     BenchmarkMultiProcessOperatingBudget).
//
// A plot whose benchmark is missing from the inputs is skipped with a note on stderr.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
)

func main() {
	out := flag.String("out", "docs", "directory of the PNG files")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: plot [-out dir] bench-output...")
		os.Exit(2)
	}
	if err := run(*out, flag.Args(), os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

// charts are the files run writes, each drawn from the results by its function.
var charts = []struct {
	file string
	draw func(results) (*plot.Plot, error)
}{
	{"throughput.png", throughputChart},
	{"ratelimit.png", rateLimitChart},
	{"payload.png", payloadChart},
	{"autobatch.png", autoBatchChart},
	{"lists.png", listsChart},
	{"packed.png", packedChart},
	{"operating.png", operatingChart},
}

// run reads the benchmark outputs and writes the charts they have data for into dir.
func run(dir string, inputs []string, log io.Writer) error {
	res := results{}
	for _, name := range inputs {
		if err := res.parseFile(name); err != nil {
			return err
		}
	}
	wrote := 0
	for _, c := range charts {
		p, err := c.draw(res)
		if errors.Is(err, errNoData) {
			fmt.Fprintf(log, "%s: skipped: %v\n", c.file, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.file, err)
		}
		path := filepath.Join(dir, c.file)
		if err := savePNG(p, path); err != nil {
			return err
		}
		fmt.Fprintln(log, "wrote", path)
		wrote++
	}
	if wrote == 0 {
		return errors.New("no benchmark results to plot in the inputs")
	}
	return nil
}
