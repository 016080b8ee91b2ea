#!/bin/sh
# Format the tree with the project's .clang-format, or check it.
#
#   scripts/format.sh          rewrite every C file in place
#   scripts/format.sh --check  list files that differ; exit 1 if any
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || {
	echo "format: clang-format missing (scripts/deps.sh --test installs it)" >&2
	exit 1
}
# (not what npm installs: bench/node's kinesalite brings C sources of its own)
files=$(find common media storage server producer-sdk samples tests bench -name node_modules -prune -o -name '*.[ch]' -print 2>/dev/null | sort)
[ -n "$files" ] || exit 0
if [ "${1:-}" = "--check" ]; then
	# one clang-format for every file (one per file took 40 s of the suite)
	# shellcheck disable=SC2086
	bad=$(clang-format --style=file --dry-run $files 2>&1 | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: .*clang-format.*/\1/p' | sort -u)
	if [ -n "$bad" ]; then
		for f in $bad; do echo "format: $f is not formatted"; done
		exit 1
	fi
	echo "format: 1 passed, 0 failed"
	exit 0
fi
# shellcheck disable=SC2086
clang-format --style=file -i $files
