package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results maps a benchmark name (without "Benchmark" and the -GOMAXPROCS suffix) and a
// unit to the values of every run.
type results map[string]map[string][]float64

var procsSuffix = regexp.MustCompile(`-\d+$`)

func (r results) parseFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := r.parse(f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// parse reads the result lines of `go test -bench` output ("BenchmarkName-N  iters
// value unit value unit ..."); every other line is ignored.
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
				return fmt.Errorf("%q: %w", sc.Text(), err)
			}
			r[name][fields[i+1]] = append(r[name][fields[i+1]], v)
		}
	}
	return sc.Err()
}

// median of the unit of a benchmark; ok is false when there is none.
func (r results) median(name, unit string) (float64, bool) {
	vs := slices.Clone(r[name][unit])
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

// sizes returns the sorted values of n in the benchmark names prefix+n+suffix, or
// errNoData when there is none.
func (r results) sizes(prefix, suffix string) ([]int, error) {
	var ns []int
	for name := range r {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			if n, ok := strings.CutSuffix(rest, suffix); ok {
				v, err := strconv.Atoi(n)
				if err != nil {
					return nil, fmt.Errorf("benchmark %s: %w", name, err)
				}
				ns = append(ns, v)
			}
		}
	}
	if len(ns) == 0 {
		return nil, fmt.Errorf("no Benchmark%s<n>%s: %w", prefix, suffix, errNoData)
	}
	slices.Sort(ns)
	return ns, nil
}
