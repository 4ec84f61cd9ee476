package main

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// errNoData is a chart whose benchmark is not in the inputs.
var errNoData = errors.New("no results for this chart")

var (
	colorRaw   = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colorSDK   = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	colorIdeal = color.RGBA{0x55, 0x55, 0x55, 0xff}
)

// impls are the two sides the benchmarks compare.
var impls = []struct {
	name, label string
	color       color.Color
}{{"raw", "raw net/http", colorRaw}, {"sdk", "SDK", colorSDK}}

func throughputChart(r results) (*plot.Plot, error) {
	p := newPlot("UserOption.Set, one client shared by G goroutines", "goroutines", "calls per second")
	gs := []float64{1, 8, 64}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = ticksAt(gs)
	for _, impl := range impls {
		var xys plotter.XYs
		for _, g := range gs {
			ns, ok := r.median(fmt.Sprintf("Parallel/goroutines=%d/impl=%s", int(g), impl.name), "ns/op")
			if !ok {
				return nil, fmt.Errorf("BenchmarkParallel: %w", errNoData)
			}
			xys = append(xys, plotter.XY{X: g, Y: 1e9 / ns})
		}
		if err := addLine(p, impl.label, xys, impl.color, false); err != nil {
			return nil, err
		}
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
	if len(ns) == 0 {
		return nil, fmt.Errorf("BenchmarkRateLimited: %w", errNoData)
	}
	p := newPlot("n calls at 100/s, burst 50, 8 goroutines", "n calls", "wall time, s")
	var measured plotter.XYs
	var xs []float64
	for _, n := range ns {
		wall, _ := r.median(fmt.Sprintf("RateLimited/n=%d", n), "ns/op")
		measured = append(measured, plotter.XY{X: float64(n), Y: wall / 1e9})
		xs = append(xs, float64(n))
	}
	first, last := float64(ns[0]), float64(ns[len(ns)-1])
	ideal := plotter.XYs{{X: first, Y: (first - 50) / 100}, {X: last, Y: (last - 50) / 100}}
	if err := addLine(p, "ideal (n - 50) / 100", ideal, colorIdeal, true); err != nil {
		return nil, err
	}
	if err := addLine(p, "measured (SDK through bitrix24test)", measured, colorSDK, false); err != nil {
		return nil, err
	}
	p.X.Tick.Marker = ticksAt(xs)
	pad := (last - first) * 0.04 // so the end markers are not cut
	p.X.Min, p.X.Max = first-pad, last+pad
	p.Y.Min = 0
	p.Y.Max *= 1.1 // room for the legend
	return p, nil
}

func payloadChart(r results) (*plot.Plot, error) {
	sizes, err := r.sizes("Payload/deals=", "/impl=sdk")
	if err != nil {
		return nil, err
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("BenchmarkPayload: %w", errNoData)
	}
	// The answer's size, from MB/s (b.SetBytes) and ns/op of the largest.
	lastName := fmt.Sprintf("Payload/deals=%d/impl=sdk", sizes[len(sizes)-1])
	ns, _ := r.median(lastName, "ns/op")
	mbs, _ := r.median(lastName, "MB/s")
	perDeal := mbs * 1e6 * ns / 1e9 / float64(sizes[len(sizes)-1])
	p := newPlot("Call with a result of n deals, one after the other",
		fmt.Sprintf("n deals in the result (about %.0f bytes each)", perDeal), "time per call, microseconds")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var xs []float64
	for _, impl := range impls {
		var xys plotter.XYs
		for _, n := range sizes {
			ns, ok := r.median(fmt.Sprintf("Payload/deals=%d/impl=%s", n, impl.name), "ns/op")
			if !ok {
				return nil, fmt.Errorf("BenchmarkPayload, impl=%s: %w", impl.name, errNoData)
			}
			xys = append(xys, plotter.XY{X: float64(n), Y: ns / 1000})
		}
		if err := addLine(p, impl.label, xys, impl.color, false); err != nil {
			return nil, err
		}
	}
	for _, n := range sizes {
		xs = append(xs, float64(n))
	}
	p.X.Tick.Marker = ticksAt(xs)
	padLog(&p.X)
	padLog(&p.Y)
	return p, nil
}

// newPlot is a plot with a grid, the legend at the top left and larger text than
// gonum's default, for images shown at half size in the docs.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Title.TextStyle.Font.Size = vg.Points(15)
	p.Title.Padding = vg.Points(10)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(13)
		a.Tick.Label.Font.Size = vg.Points(11)
	}
	p.Legend.TextStyle.Font.Size = vg.Points(12)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(10), -vg.Points(5)
	p.Y.Tick.Marker = linearTicks{}
	p.Add(plotter.NewGrid())
	return p
}

// addLine adds a line through xys, with markers unless dashed, and its legend entry.
func addLine(p *plot.Plot, label string, xys plotter.XYs, c color.Color, dashed bool) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	l.Color, l.Width = c, vg.Points(2)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		p.Add(l)
		p.Legend.Add(label, l)
		return nil
	}
	s.Color, s.Shape, s.Radius = c, draw.CircleGlyph{}, vg.Points(3.5)
	p.Add(l, s)
	p.Legend.Add(label, l, s)
	return nil
}

// ticksAt labels exactly the values vs.
func ticksAt(vs []float64) plot.ConstantTicks {
	ts := make(plot.ConstantTicks, len(vs))
	for i, v := range vs {
		ts[i] = plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)}
	}
	return ts
}

// padLog widens a log axis by 15 % on each side, so the end markers are not cut.
func padLog(a *plot.Axis) {
	a.Min /= 1.15
	a.Max *= 1.15
}

// linearTicks labels 4 to 10 round values (1, 2 or 5 times a power of ten apart), as
// whole numbers when they are: gonum's default labels few ticks, with two decimals.
type linearTicks struct{}

// Ticks implements plot.Ticker.
func (linearTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'f', -1, 64)}}
	}
	step := math.Pow(10, math.Floor(math.Log10((hi-lo)/4)))
	for _, m := range []float64{1, 2, 5, 10} {
		if (hi-lo)/(step*m) <= 10 {
			step *= m
			break
		}
	}
	var ts []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(math.Round(v/step)*step, 'f', -1, 64)})
	}
	return ts
}
