package main

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The look shared by the charts: colours, text sizes, lines, ticks.

var (
	colorRaw   = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colorSDK   = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	colorIdeal = color.RGBA{0x55, 0x55, 0x55, 0xff}
	colorProcs = color.RGBA{0x2c, 0xa0, 0x2c, 0xff}
)

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
func ticksAt(vs []int) plot.ConstantTicks {
	ts := make(plot.ConstantTicks, len(vs))
	for i, v := range vs {
		ts[i] = plot.Tick{Value: float64(v), Label: strconv.Itoa(v)}
	}
	return ts
}

// logLog makes both axes logarithmic, the y one labelled at powers of ten.
func logLog(p *plot.Plot) {
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
}

// padLog widens a log axis by 15 % on each side, so the end markers are not cut.
func padLog(a *plot.Axis) {
	a.Min /= 1.15
	a.Max *= 1.15
}

// padLinear widens a linear axis by 4 % of its range on each side, so the end
// markers are not cut.
func padLinear(a *plot.Axis) {
	pad := (a.Max - a.Min) * 0.04
	a.Min -= pad
	a.Max += pad
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
