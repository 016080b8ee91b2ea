#!/bin/sh
# Configure and build one flavour of the tree into build/<flavour>.
#
#   scripts/build.sh [release|debug|asan|fuzz]   (default: release)
#
# release: RelWithDebInfo, what scripts/run.sh runs
# debug:   warnings are errors; the test suite's first pass
# asan:    AddressSanitizer + UndefinedBehaviorSanitizer, warnings are errors
# fuzz:    clang with libFuzzer targets (tests/fuzz)
set -eu
cd "$(dirname "$0")/.."
flavour=${1:-release}
jobs=$(nproc 2>/dev/null || echo 2)
case "$flavour" in
release) opts="-DCMAKE_BUILD_TYPE=RelWithDebInfo" ;;
debug) opts="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFL_WERROR=ON" ;;
asan) opts="-DCMAKE_BUILD_TYPE=Debug -DFL_WERROR=ON -DFL_SANITIZE=ON" ;;
fuzz) opts="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFL_FUZZ=ON -DCMAKE_C_COMPILER=clang" ;;
*)
	echo "build: unknown flavour '$flavour' (release, debug, asan, fuzz)" >&2
	exit 2
	;;
esac
dir=build/$flavour
mkdir -p "$dir"
# shellcheck disable=SC2086
if ! cmake -S . -B "$dir" $opts >"$dir/configure.log" 2>&1; then
	cat "$dir/configure.log" >&2
	echo "build: configure failed ($dir/configure.log)" >&2
	exit 1
fi
cmake --build "$dir" -j"$jobs" -- --no-print-directory >"$dir/build.log" 2>&1 || {
	grep -E "error|Error|warning" "$dir/build.log" | head -50 >&2
	echo "build: $flavour build failed (see $dir/build.log)" >&2
	exit 1
}
echo "build: $flavour ready in $dir" >&2
