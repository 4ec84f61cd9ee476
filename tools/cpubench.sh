#!/usr/bin/env bash
# CPU time per call of the root benchmarks, this tree against a base revision: the
# measurement behind docs/performance.md#observability ("without an observer a call
# costs what it cost before").
#
#   tools/cpubench.sh            # base: git merge-base main HEAD; ROUNDS=10, ~4 minutes
#   tools/cpubench.sh v0.1.0
#
# On a shared machine the wall clock of a benchmark varies by ±50 % and more; the CPU
# time the process used (user + system, as bash's time reports it) varies far less.
# Each run is one sub-benchmark with a fixed number of iterations; rounds alternate
# which binary goes first. benchstat compares the medians.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${1:-$(git merge-base main HEAD)}
ROUNDS=${ROUNDS:-10}
out=docs/bench
export PATH="$(go env GOPATH)/bin:$PATH"
command -v benchstat >/dev/null 2>&1 ||
	go install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/base"
git archive "$BASE" | tar -x -C "$tmp/base"
(cd "$tmp/base" && GOWORK=off go test -c -o "$tmp/base.test" .)
GOWORK=off go test -c -o "$tmp/new.test" .

cases="ClientOnly:UserOptionSet:50000 ClientOnly:Call:50000 PerCall:UserOptionSet:20000"
for b in base new; do
	printf 'goos: linux\ngoarch: amd64\npkg: github.com/b24go/bitrix24\n' >"$tmp/cpu-$b.txt"
done
TIMEFORMAT='%3U %3S'
for r in $(seq 1 "$ROUNDS"); do
	order="base new"
	[ $((r % 2)) -eq 0 ] && order="new base"
	for c in $cases; do
		IFS=: read -r bench op n <<<"$c"
		for impl in sdk raw; do
			for b in $order; do
				t=$({ time "$tmp/$b.test" -test.run '^$' -test.benchtime "${n}x" \
					-test.bench "^Benchmark$bench\$/^op=$op\$/^impl=$impl\$" >/dev/null; } 2>&1)
				ns=$(awk -v t="$t" -v n="$n" 'BEGIN { split(t, a, " "); printf "%.0f", (a[1] + a[2]) * 1e9 / n }')
				echo "Benchmark$bench/op=$op/impl=$impl-2 $n $ns cpu-ns/op" >>"$tmp/cpu-$b.txt"
			done
		done
	done
done
cp "$tmp/cpu-base.txt" "$out/observer-cpu-base.txt"
cp "$tmp/cpu-new.txt" "$out/observer-cpu-new.txt"
benchstat "$out/observer-cpu-base.txt" "$out/observer-cpu-new.txt" | tee "$out/observer-cpu.benchstat.txt"
