package main

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// operatingChart: the server time an export used in each 10 minutes against the 480 s
// limit, without and with the operating-time budget, and shared by 4 processes
// (BenchmarkOperatingExport, BenchmarkMultiProcessOperatingBudget), with the
// OPERATION_TIME_LIMIT errors of each run written under its line.
func operatingChart(r results) (*plot.Plot, error) {
	var windows []int
	for w := 1; ; w++ {
		if _, ok := r.median("OperatingExport/budget=on", fmt.Sprintf("w%d-used-s", w)); !ok {
			break
		}
		windows = append(windows, w)
	}
	if len(windows) == 0 {
		return nil, fmt.Errorf("no BenchmarkOperatingExport/budget=on: %w", errNoData)
	}
	p := newPlot("Export of pages costing 1 s of server time, 4 at a time, limit 480 s / 10 min",
		"10-minute window of the run", "server time used in the window, s")
	limit := func(float64) float64 { return 480 }
	if err := addModel(p, "the limit, 480 s", windows, limit); err != nil {
		return nil, err
	}
	if err := addModel(p, "90 % of the limit", windows, func(float64) float64 { return 432 }); err != nil {
		return nil, err
	}
	runs := []series{
		{"OperatingExport/budget=off", "without the budget", colorRaw},
		{"OperatingExport/budget=on", "WithOperatingBudget (default)", colorSDK},
		{"MultiProcessOperatingBudget", "4 processes, one budget", colorThird},
	}
	for i, s := range runs {
		var xys plotter.XYs
		for _, w := range windows {
			v, ok := r.median(s.name, fmt.Sprintf("w%d-used-s", w))
			if !ok {
				if s.name == "MultiProcessOperatingBudget" {
					break // optional
				}
				return nil, fmt.Errorf("%s: %w", s.name, errNoData)
			}
			xys = append(xys, plotter.XY{X: float64(w), Y: v})
		}
		if len(xys) == 0 {
			continue
		}
		if err := addLine(p, s.label, xys, s.color, false); err != nil {
			return nil, err
		}
		errs, _ := r.median(s.name, "op-errors")
		pages, _ := r.median(s.name, "pages")
		l, err := plotter.NewLabels(plotter.XYLabels{
			XYs:    plotter.XYs{{X: float64(windows[0]), Y: 405 - 15*float64(i)}},
			Labels: []string{fmt.Sprintf("%s: %.0f pages, %.0f × OPERATION_TIME_LIMIT", s.label, pages, errs)},
		})
		if err != nil {
			return nil, err
		}
		l.TextStyle[0].Font.Size = vg.Points(10)
		l.TextStyle[0].Color = s.color
		l.TextStyle[0].XAlign = draw.XLeft
		p.Add(l)
	}
	p.X.Tick.Marker = ticksAt(windows)
	padLinear(&p.X)
	p.Y.Min, p.Y.Max = 300, 520
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(10), vg.Points(10)
	return p, nil
}
