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
	bad=0
	for f in $files; do
		if ! clang-format --style=file "$f" | cmp -s - "$f"; then
			echo "format: $f is not formatted"
			bad=1
		fi
	done
	[ $bad -eq 0 ] && echo "format: 1 passed, 0 failed"
	exit $bad
fi
# shellcheck disable=SC2086
clang-format --style=file -i $files
