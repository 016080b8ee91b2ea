#!/bin/sh
# Install what is missing, build, and run the whole suite (unit, end-to-end,
# fuzz-corpus replays) twice: in the normal build, then under
# AddressSanitizer + UndefinedBehaviorSanitizer. Ends with the summary line
# and exits non-zero on any failure.
#
#   scripts/test.sh            everything
#   scripts/test.sh -R REGEX   only the tests whose name matches (ctest -R)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/deps.sh" --test
"$root/scripts/build.sh" debug
"$root/scripts/build.sh" asan

# Two tests more than cores: most tests wait on real time (producers
# pushing at their real rate, fsync, child processes) for most of their
# run (test_server_auth: 93 s of CPU in 244 s), so cores idle at
# -j$(nproc). Long programs run as one ctest test per Check case
# (tests/CMakeLists.txt). FL_TEST_JOBS overrides.
jobs=${FL_TEST_JOBS:-$(($(nproc 2>/dev/null || echo 2) + 2))}
total_pass=0
total_fail=0
rc=0
for flavour in debug asan; do
	echo "== tests: $flavour build =="
	log="build/$flavour/ctest.log"
	set +e
	ctest --test-dir "build/$flavour" -j"$jobs" --output-on-failure --timeout 600 "$@" >"$log" 2>&1
	frc=$?
	set -e
	cat "$log"
	line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
	if [ -n "$line" ]; then
		failed=$(echo "$line" | sed -E 's/.*passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/')
		count=$(echo "$line" | sed -E 's/.*passed, ([0-9]+) tests failed out of ([0-9]+).*/\2/')
		total_pass=$((total_pass + count - failed))
		total_fail=$((total_fail + failed))
	else
		total_fail=$((total_fail + 1))
	fi
	[ $frc -eq 0 ] || rc=1
done
echo "== summary (debug + asan) =="
echo "$total_pass passed, $total_fail failed"
exit $rc
