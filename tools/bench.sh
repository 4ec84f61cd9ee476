#!/usr/bin/env bash
# Runs the benchmarks of bench_test.go the way docs/performance.md reports them, and
# regenerates docs/bench/*.txt and the plots docs/*.png.
#
#   tools/bench.sh              # ROUNDS=10 by default; about 6 minutes on 2 vCPUs
#   ROUNDS=6 tools/bench.sh
#
# The machine is noisy, and what the budget compares is ratios inside one run (SDK vs
# raw net/http). So the per-call, payload, parallel and batch benchmarks run as ROUNDS
# interleaved rounds of -count=1, alternating which of raw and sdk goes first, instead
# of one -count=ROUNDS, which would run all raw samples before all sdk ones: drift and
# position then hit both alike. benchstat reports the medians with their confidence
# intervals.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-10}
BENCHTIME=${BENCHTIME:-1s}
out=docs/bench
mkdir -p "$out"
export PATH="$(go env GOPATH)/bin:$PATH"
command -v benchstat >/dev/null 2>&1 ||
	go install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/bitrix24.test" .

{
	echo "\$ go version"; go version
	echo "\$ nproc"; nproc
	echo "\$ lscpu | grep -v ^Flags | head -n 15"; lscpu | grep -v ^Flags | head -n 15
	echo "\$ uname -srm"; uname -srm
	echo "\$ date -u"; date -u
	echo "\$ uptime"; uptime
} >"$out/machine.txt"

: >"$out/bench.txt"
for i in $(seq "$ROUNDS"); do
	echo "round $i/$ROUNDS" >&2
	# Odd rounds run raw before sdk, even rounds sdk before raw.
	BENCH_SDK_FIRST=$((1 - i % 2)) "$tmp/bitrix24.test" -test.run='^$' \
		-test.bench='^Benchmark(PerCall|ClientOnly|Payload|Parallel|Batch)$' \
		-test.benchmem -test.count=1 -test.benchtime="$BENCHTIME" >>"$out/bench.txt"
done
# Each iteration is a whole run of n calls (1 to 4 s); its spread is milliseconds.
"$tmp/bitrix24.test" -test.run='^$' -test.bench='^BenchmarkRateLimited$' -test.count=3 >"$out/ratelimited.txt"

benchstat -filter '.name:PerCall' -col /impl "$out/bench.txt" >"$out/percall.benchstat.txt"
benchstat -filter '.name:ClientOnly' -col /impl "$out/bench.txt" >"$out/clientonly.benchstat.txt"
benchstat -filter '.name:Parallel' -col /impl "$out/bench.txt" >"$out/parallel.benchstat.txt"
benchstat -filter '.name:Payload' -col /impl "$out/bench.txt" >"$out/payload.benchstat.txt"
benchstat -filter '.name:Batch' -col /mode "$out/bench.txt" >"$out/batch.benchstat.txt"
benchstat "$out/ratelimited.txt" >"$out/ratelimited.benchstat.txt"

# autobatch.txt, lists.txt, packed.txt and operating.txt are not rerun here (see
# docs/performance.md for their commands); their charts are redrawn from the committed
# outputs.
go run ./tools/plot -out docs "$out/bench.txt" "$out/ratelimited.txt" "$out/autobatch.txt" "$out/lists.txt" "$out/packed.txt" "$out/operating.txt"
cat "$out"/percall.benchstat.txt "$out"/parallel.benchstat.txt "$out"/batch.benchstat.txt "$out"/ratelimited.benchstat.txt
