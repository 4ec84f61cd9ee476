// Command plot draws the PNG plots of docs/performance.md from `go test -bench`
// output, with nothing but the standard library:
//
//	go run ./internal/tools/plot -out docs docs/bench/bench.txt docs/bench/ratelimited.txt
//
// It reads every benchmark line of the inputs, takes the median of each metric per
// benchmark, and writes:
//
//   - throughput.png: calls per second (1e9 / ns/op) against goroutines, raw net/http
//     and the SDK (BenchmarkParallel);
//   - ratelimit.png: wall time against n under a rate limit, measured and ideal
//     (BenchmarkRateLimited);
//   - payload.png: time per call against the size of the answer (BenchmarkPayload);
//   - autobatch.png: wall time of n concurrent calls with and without WithAutoBatch
//     (BenchmarkAutoBatch).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	out := flag.String("out", "docs", "directory of the PNG files")
	flag.Parse()
	if flag.NArg() == 0 {
		log.Fatal("usage: plot [-out dir] bench-output...")
	}
	res := results{}
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			log.Fatal(err)
		}
		err = res.parse(f)
		f.Close()
		if err != nil {
			log.Fatalf("%s: %v", name, err)
		}
	}
	for file, c := range map[string]func(results) (*chart, error){
		"throughput.png": throughputChart,
		"ratelimit.png":  rateLimitChart,
		"payload.png":    payloadChart,
		"autobatch.png":  autoBatchChart,
	} {
		ch, err := c(res)
		if err != nil {
			log.Printf("%s: skipped: %v", file, err)
			continue
		}
		if err := ch.save(filepath.Join(*out, file)); err != nil {
			log.Fatal(err)
		}
		fmt.Fprintln(os.Stderr, "wrote", filepath.Join(*out, file))
	}
}

// results maps a benchmark name (without the -GOMAXPROCS suffix) and a unit to the
// values of every run.
type results map[string]map[string][]float64

var procsSuffix = regexp.MustCompile(`-\d+$`)

func (r results) parse(in io.Reader) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := procsSuffix.ReplaceAllString(strings.TrimPrefix(fields[0], "Benchmark"), "")
		if r[name] == nil {
			r[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return fmt.Errorf("%q: %v", sc.Text(), err)
			}
			r[name][fields[i+1]] = append(r[name][fields[i+1]], v)
		}
	}
	return sc.Err()
}

// median of the unit of a benchmark; ok is false when there is none.
func (r results) median(name, unit string) (float64, bool) {
	vs := append([]float64(nil), r[name][unit]...)
	if len(vs) == 0 {
		return 0, false
	}
	sort.Float64s(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

var (
	colorRaw   = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colorSDK   = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	colorIdeal = color.RGBA{0x55, 0x55, 0x55, 0xff}
)

func throughputChart(r results) (*chart, error) {
	ch := &chart{
		title:  "UserOption.Set, one client shared by G goroutines",
		xlabel: "goroutines",
		ylabel: "calls per second",
		logX:   true,
		xticks: []float64{1, 8, 64},
		// From zero: the gaps between the lines are within the noise (see benchstat).
		yFromZero: true,
	}
	for _, impl := range []struct {
		name, label string
		color       color.RGBA
	}{{"raw", "raw net/http", colorRaw}, {"sdk", "SDK", colorSDK}} {
		s := series{label: impl.label, color: impl.color, markers: true}
		for _, g := range ch.xticks {
			ns, ok := r.median(fmt.Sprintf("Parallel/goroutines=%d/impl=%s", int(g), impl.name), "ns/op")
			if !ok {
				return nil, errors.New("no BenchmarkParallel results")
			}
			s.xs = append(s.xs, g)
			s.ys = append(s.ys, 1e9/ns)
		}
		ch.series = append(ch.series, s)
	}
	return ch, nil
}

func rateLimitChart(r results) (*chart, error) {
	ch := &chart{
		title:  "n calls at 100/s, burst 50, 8 goroutines",
		xlabel: "n calls",
		ylabel: "wall time, s",
	}
	measured := series{label: "measured (SDK through bitrix24test)", color: colorSDK, markers: true}
	ideal := series{label: "ideal (n - 50) / 100", color: colorIdeal, dashed: true}
	var ns []int
	for name := range r {
		if n, ok := strings.CutPrefix(name, "RateLimited/n="); ok {
			v, err := strconv.Atoi(n)
			if err != nil {
				return nil, err
			}
			ns = append(ns, v)
		}
	}
	if len(ns) == 0 {
		return nil, errors.New("no BenchmarkRateLimited results")
	}
	sort.Ints(ns)
	for _, n := range ns {
		wall, _ := r.median(fmt.Sprintf("RateLimited/n=%d", n), "ns/op")
		measured.xs = append(measured.xs, float64(n))
		measured.ys = append(measured.ys, wall/1e9)
		ch.xticks = append(ch.xticks, float64(n))
	}
	ideal.xs = []float64{float64(ns[0]), float64(ns[len(ns)-1])}
	ideal.ys = []float64{float64(ns[0]-50) / 100, float64(ns[len(ns)-1]-50) / 100}
	ch.series = []series{ideal, measured}
	ch.yFromZero = true
	return ch, nil
}

func payloadChart(r results) (*chart, error) {
	var sizes []int
	for name := range r {
		if rest, ok := strings.CutPrefix(name, "Payload/deals="); ok {
			if n, ok := strings.CutSuffix(rest, "/impl=sdk"); ok {
				v, err := strconv.Atoi(n)
				if err != nil {
					return nil, err
				}
				sizes = append(sizes, v)
			}
		}
	}
	if len(sizes) == 0 {
		return nil, errors.New("no BenchmarkPayload results")
	}
	sort.Ints(sizes)
	ch := &chart{
		title:  "Call with a result of n deals, one after the other",
		ylabel: "time per call, microseconds",
		logX:   true,
		logY:   true,
	}
	for _, impl := range []struct {
		name, label string
		color       color.RGBA
	}{{"raw", "raw net/http", colorRaw}, {"sdk", "SDK", colorSDK}} {
		s := series{label: impl.label, color: impl.color, markers: true}
		for _, n := range sizes {
			ns, ok := r.median(fmt.Sprintf("Payload/deals=%d/impl=%s", n, impl.name), "ns/op")
			if !ok {
				return nil, errors.New("incomplete BenchmarkPayload results")
			}
			s.xs = append(s.xs, float64(n))
			s.ys = append(s.ys, ns/1000)
		}
		ch.series = append(ch.series, s)
	}
	ch.xticks = ch.series[0].xs
	// The answer's size, from MB/s (b.SetBytes) and ns/op of the largest.
	last := fmt.Sprintf("Payload/deals=%d/impl=sdk", sizes[len(sizes)-1])
	ns, _ := r.median(last, "ns/op")
	mbs, _ := r.median(last, "MB/s")
	perDeal := mbs * 1e6 * ns / 1e9 / float64(sizes[len(sizes)-1])
	ch.xlabel = fmt.Sprintf("n deals in the result (about %.0f bytes each)", perDeal)
	return ch, nil
}

// autoBatchChart: wall time of n concurrent calls with and without WithAutoBatch on
// the standard plan (BenchmarkAutoBatch), in seconds of the portal's clock.
func autoBatchChart(r results) (*chart, error) {
	ch := &chart{
		title:  "n concurrent UserOption.Set, standard plan 2/s, burst 50",
		xlabel: "n calls",
		ylabel: "wall time, s (log)",
		logX:   true,
		logY:   true,
	}
	ideal := series{label: "without, ideal (n - 50) / 2", color: colorIdeal, dashed: true}
	for _, mode := range []struct {
		name, label string
		color       color.RGBA
	}{{"direct", "without (portal clock at 50x)", colorRaw}, {"auto", "WithAutoBatch(10ms)", colorSDK}} {
		s := series{label: mode.label, color: mode.color, markers: true}
		for _, n := range []float64{100, 1000, 10000} {
			wall, ok := r.median(fmt.Sprintf("AutoBatch/mode=%s/n=%d", mode.name, int(n)), "wall-s")
			if !ok {
				continue
			}
			s.xs = append(s.xs, n)
			s.ys = append(s.ys, wall)
			if mode.name == "direct" {
				ideal.xs = append(ideal.xs, n)
				ideal.ys = append(ideal.ys, (n-50)/2)
			}
		}
		if len(s.xs) == 0 {
			return nil, errors.New("no BenchmarkAutoBatch results")
		}
		ch.series = append(ch.series, s)
	}
	ch.series = append([]series{ideal}, ch.series...)
	ch.xticks = []float64{100, 1000, 10000}
	return ch, nil
}

// series is one line of a chart.
type series struct {
	label   string
	xs, ys  []float64
	color   color.RGBA
	dashed  bool
	markers bool
}

// chart is a line chart with labelled axes and a legend.
type chart struct {
	title, xlabel, ylabel string
	logX, logY            bool
	xticks                []float64 // x ticks; y ticks are computed
	yFromZero             bool
	series                []series
}

const (
	width, height                           = 960, 600
	marginL, marginR, marginT, marginB      = 120, 40, 70, 90
	plotW                                   = width - marginL - marginR
	plotH                                   = height - marginT - marginB
	textScale                               = 2
	glyphW, glyphH, glyphAdvance, smallText = 5, 7, 6, 2
)

func (c *chart) save(path string) error {
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fill(img, img.Bounds(), color.RGBA{0xff, 0xff, 0xff, 0xff})

	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range c.series {
		for i := range s.xs {
			xmin, xmax = math.Min(xmin, s.xs[i]), math.Max(xmax, s.xs[i])
			ymin, ymax = math.Min(ymin, s.ys[i]), math.Max(ymax, s.ys[i])
		}
	}
	for _, t := range c.xticks {
		xmin, xmax = math.Min(xmin, t), math.Max(xmax, t)
	}
	var yticks []float64
	if c.logY {
		yticks = logTicks(ymin, ymax)
		ymin, ymax = math.Min(ymin, yticks[0]), math.Max(ymax, yticks[len(yticks)-1])
	} else {
		if c.yFromZero || ymin > 0 && ymin < ymax/3 {
			ymin = 0
		}
		yticks = niceTicks(ymin, ymax*1.05)
		ymin, ymax = yticks[0], yticks[len(yticks)-1]
	}
	tx := axis(xmin, xmax, c.logX, 0.06)
	ty := axis(ymin, ymax, c.logY, 0)
	px := func(x float64) int { return marginL + int(math.Round(tx(x)*plotW)) }
	py := func(y float64) int { return marginT + plotH - int(math.Round(ty(y)*plotH)) }

	grid := color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	black := color.RGBA{0, 0, 0, 0xff}
	for _, t := range yticks {
		y := py(t)
		line(img, marginL, y, marginL+plotW, y, 1, grid, false)
		label := formatTick(t, yticks)
		drawText(img, marginL-10-textWidth(label, smallText), y-glyphH*smallText/2, label, smallText, black)
	}
	for _, t := range c.xticks {
		x := px(t)
		line(img, x, marginT, x, marginT+plotH, 1, grid, false)
		label := formatTick(t, c.xticks)
		drawText(img, x-textWidth(label, smallText)/2, marginT+plotH+10, label, smallText, black)
	}
	line(img, marginL, marginT+plotH, marginL+plotW, marginT+plotH, 2, black, false)
	line(img, marginL, marginT, marginL, marginT+plotH, 2, black, false)

	drawText(img, (width-textWidth(c.title, textScale))/2, 20, c.title, textScale, black)
	drawText(img, marginL+(plotW-textWidth(c.xlabel, textScale))/2, height-40, c.xlabel, textScale, black)
	drawTextUp(img, 20, marginT+(plotH+textWidth(c.ylabel, textScale))/2, c.ylabel, textScale, black)

	for _, s := range c.series {
		for i := 1; i < len(s.xs); i++ {
			line(img, px(s.xs[i-1]), py(s.ys[i-1]), px(s.xs[i]), py(s.ys[i]), 3, s.color, s.dashed)
		}
		if s.markers {
			for i := range s.xs {
				x, y := px(s.xs[i]), py(s.ys[i])
				fill(img, image.Rect(x-5, y-5, x+6, y+6), s.color)
			}
		}
	}
	// Legend, top left inside the plot.
	lx, ly := marginL+20, marginT+15
	for _, s := range c.series {
		line(img, lx, ly+7, lx+40, ly+7, 3, s.color, s.dashed)
		if s.markers {
			fill(img, image.Rect(lx+15, ly+2, lx+26, ly+13), s.color)
		}
		drawText(img, lx+50, ly, s.label, smallText, black)
		ly += 26
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// axis maps [lo, hi] to [0, 1], linearly or logarithmically, with pad on each side.
func axis(lo, hi float64, logScale bool, pad float64) func(float64) float64 {
	f := func(v float64) float64 { return v }
	if logScale {
		f = math.Log
	}
	a, b := f(lo), f(hi)
	if b == a {
		b = a + 1
	}
	return func(v float64) float64 { return pad + (1-2*pad)*(f(v)-a)/(b-a) }
}

// niceTicks returns about 6 round ticks covering [lo, hi].
func niceTicks(lo, hi float64) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for v := math.Floor(lo/step) * step; v < hi+step*0.999; v += step {
		ticks = append(ticks, math.Round(v/step)*step)
	}
	return ticks
}

// logTicks returns 1, 2, 5 times powers of ten from the last one at or below lo to the
// first one at or above hi.
func logTicks(lo, hi float64) []float64 {
	var ticks []float64
	steps := []float64{1, 2, 5}
	if hi > 1000*lo { // many decades: one tick per decade
		steps = []float64{1}
	}
	for e := math.Floor(math.Log10(lo)) - 1; ; e++ {
		for _, m := range steps {
			v := m * math.Pow(10, e)
			if len(ticks) > 0 && ticks[len(ticks)-1] <= lo && v <= lo {
				ticks = ticks[:0] // keep only the last tick at or below lo
			}
			ticks = append(ticks, v)
			if v >= hi {
				return ticks
			}
		}
	}
}

// formatTick writes v with as many decimals as the ticks need; above 10,000 in
// thousands ("27.5k").
func formatTick(v float64, all []float64) string {
	if v == 0 {
		return "0"
	}
	if all[0] > 0 && all[0] < 1 && all[len(all)-1] >= 10000 {
		return strconv.FormatFloat(v, 'g', -1, 64) // decades from 0.001 to 10000
	}
	suffix := ""
	if all[len(all)-1] >= 10000 {
		v, suffix = v/1000, "k"
		scaled := make([]float64, len(all))
		for i, t := range all {
			scaled[i] = t / 1000
		}
		all = scaled
	}
	decimals := 0
	for _, t := range all {
		for d := 0; d <= 2; d++ {
			p := math.Pow(10, float64(d))
			if math.Abs(t*p-math.Round(t*p)) < 1e-6 || d == 2 {
				decimals = max(decimals, d)
				break
			}
		}
	}
	return strconv.FormatFloat(v, 'f', decimals, 64) + suffix
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws a segment of the given thickness, dashed (12 on, 8 off) if asked.
func line(img *image.RGBA, x0, y0, x1, y1, thick int, c color.RGBA, dashed bool) {
	steps := max(abs(x1-x0), abs(y1-y0))
	length := math.Hypot(float64(x1-x0), float64(y1-y0))
	for i := 0; i <= steps; i++ {
		t := 0.0
		if steps > 0 {
			t = float64(i) / float64(steps)
		}
		if dashed && math.Mod(t*length, 20) >= 12 {
			continue
		}
		x := x0 + int(math.Round(t*float64(x1-x0)))
		y := y0 + int(math.Round(t*float64(y1-y0)))
		fill(img, image.Rect(x-thick/2, y-thick/2, x-thick/2+thick, y-thick/2+thick), c)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func textWidth(s string, scale int) int { return len(s) * glyphAdvance * scale }

// drawText writes s with its top left corner at (x, y).
func drawText(img *image.RGBA, x, y int, s string, scale int, c color.RGBA) {
	for i, ch := range s {
		g := glyph(ch)
		for gy, row := range g {
			for gx := 0; gx < glyphW; gx++ {
				if row[gx] == '#' {
					px := x + (i*glyphAdvance+gx)*scale
					fill(img, image.Rect(px, y+gy*scale, px+scale, y+gy*scale+scale), c)
				}
			}
		}
	}
}

// drawTextUp writes s rotated a quarter turn counter-clockwise, starting at (x, y) and
// going up.
func drawTextUp(img *image.RGBA, x, y int, s string, scale int, c color.RGBA) {
	for i, ch := range s {
		g := glyph(ch)
		for gy, row := range g {
			for gx := 0; gx < glyphW; gx++ {
				if row[gx] == '#' {
					px := x + gy*scale
					py := y - (i*glyphAdvance+gx)*scale
					fill(img, image.Rect(px, py-scale, px+scale, py), c)
				}
			}
		}
	}
}

// glyph returns the bitmap of ch; letters are drawn as capitals.
func glyph(ch rune) [glyphH]string {
	if ch >= 'a' && ch <= 'z' {
		ch -= 'a' - 'A'
	}
	if g, ok := font[ch]; ok {
		return g
	}
	return font['?']
}

// font is a 5x7 bitmap font of the characters the charts use.
var font = map[rune][glyphH]string{
	' ': {"     ", "     ", "     ", "     ", "     ", "     ", "     "},
	'?': {" ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  "},
	'A': {" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"},
	'B': {"#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "},
	'C': {" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "},
	'D': {"#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### "},
	'E': {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"},
	'F': {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "},
	'G': {" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"},
	'H': {"#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"},
	'I': {" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "},
	'J': {"  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "},
	'K': {"#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"},
	'L': {"#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"},
	'M': {"#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"},
	'N': {"#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"},
	'O': {" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "},
	'P': {"#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "},
	'Q': {" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"},
	'R': {"#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"},
	'S': {" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "},
	'T': {"#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "},
	'U': {"#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "},
	'V': {"#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "},
	'W': {"#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "},
	'X': {"#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"},
	'Y': {"#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "},
	'Z': {"#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"},
	'0': {" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "},
	'1': {"  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "},
	'2': {" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"},
	'3': {"#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "},
	'4': {"   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "},
	'5': {"#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "},
	'6': {"  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "},
	'7': {"#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "},
	'8': {" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "},
	'9': {" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "},
	'.': {"     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "},
	',': {"     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "},
	'/': {"    #", "    #", "   # ", "  #  ", " #   ", "#    ", "#    "},
	'(': {"   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "},
	')': {" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "},
	'-': {"     ", "     ", "     ", "#####", "     ", "     ", "     "},
	'=': {"     ", "     ", "#####", "     ", "#####", "     ", "     "},
	':': {"     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "},
	'%': {"##   ", "##  #", "   # ", "  #  ", " #   ", "#  ##", "   ##"},
	'+': {"     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     "},
	'_': {"     ", "     ", "     ", "     ", "     ", "     ", "#####"},
}
