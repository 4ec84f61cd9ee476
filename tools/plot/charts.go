package main

import (
	"errors"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// errNoData is a chart whose benchmark is not in the inputs.
var errNoData = errors.New("no results for this chart")

// series is one line of a chart: the benchmarks it reads and how it is drawn.
type series struct {
	name, label string
	color       color.Color
}

// impls are the two sides the SDK benchmarks compare.
var impls = []series{{"raw", "raw net/http", colorRaw}, {"sdk", "SDK", colorSDK}}

// line is, for each x in xs, the point (x, y(median of unit of the benchmark name(x))).
func (r results) line(xs []int, unit string, name func(int) string, y func(float64) float64) (plotter.XYs, error) {
	var xys plotter.XYs
	for _, x := range xs {
		v, ok := r.median(name(x), unit)
		if !ok {
			return nil, fmt.Errorf("%s, %s: %w", name(x), unit, errNoData)
		}
		xys = append(xys, plotter.XY{X: float64(x), Y: y(v)})
	}
	return xys, nil
}

// addLines adds one line per series s, read by r.line from the benchmarks
// fmt.Sprintf(format, s.name, x).
func addLines(p *plot.Plot, r results, ss []series, xs []int, format, unit string, y func(float64) float64) error {
	for _, s := range ss {
		xys, err := r.line(xs, unit, func(x int) string { return fmt.Sprintf(format, s.name, x) }, y)
		if err != nil {
			return err
		}
		if err := addLine(p, s.label, xys, s.color, false); err != nil {
			return err
		}
	}
	return nil
}

// addModel adds the dashed line of a model, y(n) at each n of ns.
func addModel(p *plot.Plot, label string, ns []int, y func(float64) float64) error {
	var xys plotter.XYs
	for _, n := range ns {
		xys = append(xys, plotter.XY{X: float64(n), Y: y(float64(n))})
	}
	return addLine(p, label, xys, colorIdeal, true)
}

// Conversions of a median to the unit of a chart's y axis.
func perSecond(ns float64) float64 { return 1e9 / ns }
func micro(ns float64) float64     { return ns / 1e3 }
func milli(us float64) float64     { return us / 1e3 }
func seconds(ns float64) float64   { return ns / 1e9 }
func identity(v float64) float64   { return v }

func throughputChart(r results) (*plot.Plot, error) {
	p := newPlot("UserOption.Set, one client shared by G goroutines", "goroutines", "calls per second")
	gs := []int{1, 8, 64}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = ticksAt(gs)
	if err := addLines(p, r, impls, gs, "Parallel/goroutines=%[2]d/impl=%[1]s", "ns/op", perSecond); err != nil {
		return nil, err
	}
	// From zero: the gaps between the lines are within the noise (see benchstat).
	p.Y.Min = 0
	p.Y.Max *= 1.1 // room for the legend
	padLog(&p.X)
	return p, nil
}

func rateLimitChart(r results) (*plot.Plot, error) {
	ns, err := r.sizes("RateLimited/n=", "")
	if err != nil {
		return nil, err
	}
	p := newPlot("n calls at 100/s, burst 50, 8 goroutines", "n calls", "wall time, s")
	if err := addModel(p, "ideal (n - 50) / 100", ns, func(n float64) float64 { return (n - 50) / 100 }); err != nil {
		return nil, err
	}
	measured, err := r.line(ns, "ns/op", func(n int) string { return fmt.Sprintf("RateLimited/n=%d", n) }, seconds)
	if err != nil {
		return nil, err
	}
	if err := addLine(p, "measured (SDK through bitrix24test)", measured, colorSDK, false); err != nil {
		return nil, err
	}
	p.X.Tick.Marker = ticksAt(ns)
	padLinear(&p.X)
	p.Y.Min = 0
	p.Y.Max *= 1.1 // room for the legend
	return p, nil
}

func payloadChart(r results) (*plot.Plot, error) {
	sizes, err := r.sizes("Payload/deals=", "/impl=sdk")
	if err != nil {
		return nil, err
	}
	// The answer's size, from MB/s (b.SetBytes) and ns/op of the largest.
	lastName := fmt.Sprintf("Payload/deals=%d/impl=sdk", sizes[len(sizes)-1])
	ns, _ := r.median(lastName, "ns/op")
	mbs, _ := r.median(lastName, "MB/s")
	perDeal := mbs * 1e6 * ns / 1e9 / float64(sizes[len(sizes)-1])
	p := newPlot("Call with a result of n deals, one after the other",
		fmt.Sprintf("n deals in the result (about %.0f bytes each)", perDeal), "time per call, microseconds")
	logLog(p)
	if err := addLines(p, r, impls, sizes, "Payload/deals=%[2]d/impl=%[1]s", "ns/op", micro); err != nil {
		return nil, err
	}
	p.X.Tick.Marker = ticksAt(sizes)
	padLog(&p.X)
	padLog(&p.Y)
	return p, nil
}

// autoBatchChart: wall time of n concurrent calls with and without WithAutoBatch on
// the standard plan (BenchmarkAutoBatch), in seconds of the portal's clock, with the
// requests each sent and the 503s it got written by its points.
func autoBatchChart(r results) (*plot.Plot, error) {
	ns, err := r.sizes("AutoBatch/mode=direct/n=", "")
	if err != nil {
		return nil, err
	}
	p := newPlot("n concurrent UserOption.Set, standard plan 2/s, burst 50",
		"n calls", "wall time, s (portal clock)")
	logLog(p)
	// The client's bucket keeps 3 of the 50 slots free (docs/performance.md).
	if err := addModel(p, "without, model (n - 47) / 2", ns, func(n float64) float64 { return (n - 47) / 2 }); err != nil {
		return nil, err
	}
	modes := []series{
		{"direct", "without (portal clock at 50x)", colorRaw},
		{"auto", "WithAutoBatch(10ms)", colorSDK},
	}
	const format = "AutoBatch/mode=%s/n=%d"
	if err := addLines(p, r, modes, ns, format, "wall-s", identity); err != nil {
		return nil, err
	}
	for _, m := range modes {
		if err := addCounts(p, r, ns, func(n int) string { return fmt.Sprintf(format, m.name, n) }); err != nil {
			return nil, err
		}
	}
	p.X.Tick.Marker = ticksAt(ns)
	padLog(&p.X)
	p.Y.Min /= 3 // room for the labels below the lowest points
	p.Y.Max *= 4 // and for the legend
	return p, nil
}

// addCounts writes "requests" and, when there were any, "503s" under each point of
// the wall-s line of the benchmarks name(n).
func addCounts(p *plot.Plot, r results, ns []int, name func(int) string) error {
	xys, err := r.line(ns, "wall-s", name, identity)
	if err != nil {
		return err
	}
	text := make([]string, len(ns))
	for i, n := range ns {
		reqs, _ := r.median(name(n), "requests")
		text[i] = fmt.Sprintf("%.0f req", reqs)
		if refused, _ := r.median(name(n), "503s"); refused > 0 {
			text[i] += fmt.Sprintf(", %.0f × 503", refused)
		}
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: text})
	if err != nil {
		return err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font.Size = vg.Points(10)
		l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = draw.XCenter, draw.YTop
	}
	l.Offset.Y = -vg.Points(8)
	p.Add(l)
	return nil
}

// listsChart: the modelled database time of one page of bitrix24test's crm.item.list
// against the page's offset, as List asks for it (start = offset: skip, then count)
// and as Scan does (start = -1, filter ">id": an index seek) (BenchmarkListPage).
func listsChart(r results) (*plot.Plot, error) {
	offsets, err := r.sizes("ListPage/walk=list/offset=", "")
	if err != nil {
		return nil, err
	}
	p := newPlot("crm.item.list, one page of 50 of 10,000 rows (bitrix24test cost model)",
		"offset of the page (rows before it)", "modelled database time per page, ms")
	walks := []series{
		{"list", "List: start = offset (skips the offset, counts every row)", colorRaw},
		{"scan", "Scan: start = -1, filter >id (no count, index seek)", colorSDK},
	}
	if err := addLines(p, r, walks, offsets, "ListPage/walk=%s/offset=%d", "db-us/page", milli); err != nil {
		return nil, err
	}
	p.X.Tick.Marker = ticksAt(offsets)
	padLinear(&p.X)
	p.Y.Min = 0
	p.Y.Max *= 1.15 // room for the legend
	return p, nil
}

// packedChart: wall time (fake clock) of an export through Scan with
// WithPagesPerRequest(n) against the number of rows, on the standard plan's limits,
// for a heavy page (0.25 s of database time: the operating limit binds) and for the
// fake's default page (50 µs: only the request rate binds) (BenchmarkScanPacked).
func packedChart(r results) (*plot.Plot, error) {
	rows, err := r.sizes("ScanPacked/cost=heavy/rows=", "/n=1")
	if err != nil {
		return nil, err
	}
	p := newPlot("Scan export, standard plan (2/s, burst 50, 480 s per 10 min)",
		"rows exported", "wall time, s (fake clock)")
	logLog(p)
	ns := []series{{"1", "n = 1", colorRaw}, {"10", "n = 10", colorThird}, {"50", "n = 50", colorSDK}}
	for _, cost := range []struct {
		name, label string
		dashed      bool
	}{{"heavy", "heavy page (0.25 s)", false}, {"cheap", "cheap page (50 µs)", true}} {
		for _, n := range ns {
			xys, err := r.line(rows, "wall-s", func(x int) string {
				return fmt.Sprintf("ScanPacked/cost=%s/rows=%d/n=%s", cost.name, x, n.name)
			}, identity)
			if err != nil {
				return nil, err
			}
			if err := addLine(p, n.label+", "+cost.label, xys, n.color, cost.dashed); err != nil {
				return nil, err
			}
		}
	}
	p.X.Tick.Marker = ticksAt(rows)
	padLog(&p.X)
	p.Y.Max *= 100 // room for the legend
	return p, nil
}
