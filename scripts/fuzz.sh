#!/bin/sh
# Run one libFuzzer target for a while, starting from its committed seed
# corpus, and print its executions and coverage.
#
#   scripts/fuzz.sh TARGET SECONDS [extra libFuzzer flags...]
#
# The target is built (clang, -DFL_FUZZ=ON) in $FL_FUZZ_BUILD (default
# build/fuzz, the tree scripts/build.sh fuzz makes). New inputs go to a work
# corpus under that build folder, never into tests/fuzz/corpus/ (which holds
# small hand-picked seeds); crashes, leaks and timeouts are written there as
# crash-*, leak-*, timeout-* files and make the script exit non-zero.
set -eu
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || {
	echo "usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]" >&2
	exit 2
}
target=$1 secs=$2
shift 2
build=${FL_FUZZ_BUILD:-build/fuzz}
seeds=tests/fuzz/corpus/$target
[ -d "$seeds" ] || {
	echo "fuzz: no seed corpus $seeds" >&2
	exit 2
}
mkdir -p "$build"
if [ -f "$build/CMakeCache.txt" ]; then
	# re-configure, so that targets added since are known
	cmake -S . -B "$build" >"$build/fuzz-configure.log" 2>&1
else
	cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFL_FUZZ=ON \
		-DCMAKE_C_COMPILER=clang >"$build/fuzz-configure.log" 2>&1
fi || {
	cat "$build/fuzz-configure.log" >&2
	exit 1
}
cmake --build "$build" -j2 --target "$target" >/dev/null
bin=$(find "$build" -type f -name "$target" -perm -u+x | head -1)
[ -n "$bin" ] || {
	echo "fuzz: $target was not built" >&2
	exit 1
}
work=$build/fuzz-work/$target
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/last.log
echo "fuzz: $target for ${secs}s (log $log)" >&2
set +e
# One process, in the foreground (no -jobs: libFuzzer's fork mode would write
# fuzz-N.log files into the current folder).
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds" \
	>"$log" 2>&1
rc=$?
set -e
grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)" "$log" | tail -2 || true
grep -E "stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added" "$log" || true
if [ $rc -ne 0 ] || ls "$work/artifacts/" | grep -q .; then
	echo "fuzz: $target FAILED (exit $rc); artifacts in $work/artifacts/" >&2
	grep -E "ERROR|SUMMARY|runtime error" "$log" | head -20 >&2
	exit 1
fi
echo "fuzz: $target ok" >&2
