#!/bin/sh
# Install what is missing, build, and start framelogd on its embedded
# default: data in ./framelog-data, listening on 127.0.0.1:8080. Ctrl-C stops
# it cleanly. Extra arguments go to framelogd (see --help).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
"$root/scripts/build.sh" release
exec "$root/build/release/server/framelogd" --listen 127.0.0.1:8080 --data-dir ./framelog-data "$@"
