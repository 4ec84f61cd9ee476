#!/usr/bin/env bash
# Release dry run: what a user outside this repository gets from `go get` and `go install`,
# before any tag exists.
#
#  1. Packs every released module at HEAD (git archive: only what is committed) as the
#     module zips Go makes (golang.org/x/mod/zip, tools/release) into a file:// proxy, at
#     the version it would be tagged with (RELEASING.md). Nested modules are packed after
#     the root, with their go.sum completed against the packed root, as a release does.
#  2. Checks that each nested module's go.mod is tidy against the packed versions (go.sum
#     lines for this repository's own modules change with every commit and are not
#     compared). `--tidy` writes the tidied go.mod and go.sum of each nested module back
#     into the working tree (without those lines); `--write`, before a release, with them.
#  3. In a consumer module outside the repository, with GOWORK=off and no replace
#     directive: `go get`s each library module, builds and runs a small program, and
#     prints the module zip sizes and the consumer's `go list -m all` count; then
#     `go install …/cmd/bitrix24@latest` and runs the tool against its fake portal.
#
# Usage: tools/release-check.sh [--tidy|--write]   (VERSION=v0.1.0 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
version=${VERSION:-v0.1.0}
write=${1:-}

# The released modules, root first; each nested one requires the ones before it.
modules=(. bitrix24redis bitrix24otel cmd/bitrix24)
# Modules of the workspace that require released ones but are not released themselves.
unreleased=(examples/redis examples/otel browsertest)
max_zip=$((2 * 1024 * 1024))
max_graph=16

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
proxy=$work/proxy
mkdir -p "$work/src" "$proxy"
git archive HEAD | tar -x -C "$work/src"
(cd tools/release && go build -o "$work/pack" .)

export GOWORK=off GOFLAGS=-mod=mod GONOSUMDB=github.com/b24go GONOSUMCHECK=1
export GOPROXY="file://$proxy,$(go env GOPROXY)"
export GOMODCACHE=$work/modcache # a clean cache: nothing packed by an earlier run is reused

tidy_check() { # a nested module: go mod tidy against the packed modules
	local m=$1
	(
		cd "$work/src/$m"
		cp go.mod "$work/go.mod.committed"
		# go.sum lines of this repository's own modules are written at release time
		# (--write): the committed ones may be for an older tree.
		if [ -f go.sum ]; then grep -v '^github.com/b24go/' go.sum >go.sum.new || true; mv go.sum.new go.sum; fi
		go mod tidy
		case "$write" in
		--write) cp go.mod go.sum "$repo/$m/" ;;
		--tidy) cp go.mod "$repo/$m/"; grep -v '^github.com/b24go/' go.sum >"$repo/$m/go.sum" || true ;;
		*)
			if ! diff -u "$work/go.mod.committed" go.mod; then
				echo "release-check: $m/go.mod is not tidy against the packed modules (tools/release-check.sh --tidy)"; exit 1
			fi ;;
		esac
	)
}

echo "== pack $version"
for m in "${modules[@]}"; do
	if [ "$m" != . ]; then tidy_check "$m"; fi
	line=$("$work/pack" -proxy "$proxy" -version "$version" -root "$work/src" "$m")
	size=$(echo "$line" | cut -f3)
	printf '%-45s %s  zip %d bytes\n' "$(echo "$line" | cut -f1)" "$version" "$size"
	if [ "$size" -gt "$max_zip" ]; then echo "release-check: $m: module zip over 2 MiB"; exit 1; fi
done
for m in "${unreleased[@]}"; do tidy_check "$m"; done

consumer() { # name, module to get, program
	local dir=$work/consumer-$1
	mkdir -p "$dir"
	cp "$3" "$dir/main.go"
	(
		cd "$dir"
		go mod init example.com/consumer >/dev/null 2>&1
		go get "$2@$version" >/dev/null
		go mod tidy >/dev/null
		go build -o prog . && ./prog
		n=$(go list -m all | wc -l)
		echo "consumer of $2: go list -m all: $n lines"
		if [ "$1" = root ] && [ "$n" -gt "$max_graph" ]; then
			go list -m all; echo "release-check: a plain import brings $n modules (at most $max_graph)"; exit 1
		fi
	)
}

echo "== consumers outside the repository"
consumer root github.com/b24go/bitrix24 tools/release/consumers/root/main.go.txt
consumer bitrix24redis github.com/b24go/bitrix24/bitrix24redis tools/release/consumers/bitrix24redis/main.go.txt
consumer bitrix24otel github.com/b24go/bitrix24/bitrix24otel tools/release/consumers/bitrix24otel/main.go.txt

echo "== go install github.com/b24go/bitrix24/cmd/bitrix24@latest"
(
	cd "$work"
	GOBIN=$work/bin go install github.com/b24go/bitrix24/cmd/bitrix24@latest
	"$work/bin/bitrix24" --fake option set theme=dark
	"$work/bin/bitrix24" --fake call profile
)
echo "release check passed"
