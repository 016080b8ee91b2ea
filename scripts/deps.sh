#!/bin/sh
# Install what framelog needs to build and test, from Debian's packages.
#
# Checks first; runs `apt-get update` once and `apt-get install -y` only when
# something is missing; prints nothing when everything is there. Works as root
# on a fresh Debian 12 machine with no terminal (and through sudo otherwise).
#
#   scripts/deps.sh          build and run dependencies
#   scripts/deps.sh --test   also the tools the test suite drives (and the
#                            browser tests' npm packages, tests/browser/)
#   scripts/deps.sh --bench  what --test installs, and the peer tools
#                            benchmarks compare against (nginx; kinesalite,
#                            bench/node/)
set -eu
cd "$(dirname "$0")/.."

BUILD_PKGS="build-essential cmake pkg-config git libssl-dev
libwebsockets-dev libmbedtls-dev libsrtp2-dev
libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
libsqlite3-dev check libuv1-dev libcurl4-openssl-dev libnghttp2-dev"

TEST_PKGS="clang clang-format libclang-rt-14-dev curl ffmpeg
gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
awscli python3-boto3 openssl chromium nodejs faketime nghttp2-client"

# the peers benchmarks compare against (bench_playback: nginx serving the
# same segments as static files)
BENCH_PKGS="nginx"

pkgs=$BUILD_PKGS
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--bench" ]; then
	pkgs="$pkgs $TEST_PKGS"
fi
if [ "${1:-}" = "--bench" ]; then
	pkgs="$pkgs $BENCH_PKGS"
fi

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

# npm packages of the Node tests (the AWS SDK for JavaScript v3 over
# HTTP/2): pinned in tests/node/package-lock.json.
node_deps() {
	[ -d tests/node/node_modules/@aws-sdk/client-kinesis ] && return 0
	echo "deps: installing the Node tests' npm packages" >&2
	if ! command -v npm >/dev/null 2>&1; then
		${SUDO:-} apt-get install -y -qq --no-install-recommends npm >/dev/null
	fi
	(cd tests/node && npm ci --silent --no-audit --no-fund >/dev/null)
}

# npm packages of the browser tests (playwright-core drives Debian's
# chromium, hls.js plays): pinned in tests/browser/package-lock.json.
browser_deps() {
	if [ "${1:-}" = "--bench" ] && [ ! -d bench/node/node_modules/kinesalite ]; then
		# the benchmarks' peers, pinned in bench/node/ (then the tests' too:
		# --bench is --test and more)
		command -v npm >/dev/null 2>&1 || ${SUDO:-} apt-get install -y -qq --no-install-recommends npm >/dev/null
		(cd bench/node && npm ci --silent --no-audit --no-fund >/dev/null)
	fi
	[ "${1:-}" = "--test" ] || [ "${1:-}" = "--bench" ] || return 0
	node_deps
	[ -d tests/browser/node_modules/hls.js ] && [ -d tests/browser/node_modules/playwright-core ] && return 0
	echo "deps: installing the browser tests' npm packages" >&2
	if ! command -v npm >/dev/null 2>&1; then # Debian's nodejs comes without it
		${SUDO:-} apt-get install -y -qq --no-install-recommends npm >/dev/null
	fi
	(cd tests/browser && npm ci --silent --no-audit --no-fund >/dev/null)
}

if [ -z "$missing" ]; then
	browser_deps "${1:-}"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "deps: missing packages:$missing (run as root to install)" >&2
		exit 1
	fi
fi

echo "deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done" >&2
browser_deps "${1:-}"
