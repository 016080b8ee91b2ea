#!/bin/sh
# The layering check must fail on a tree that breaks a rule, and pass on one
# that keeps them: so that its "passed" in the suite means something.
set -eu
check=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/storage" "$tmp/media" "$tmp/common"
printf '#include "common/error.h"\n#include <openssl/evp.h>\n' >"$tmp/storage/ok.c"
printf '#include "common/bytes.h"\n' >"$tmp/media/ok.c"
"$check" "$tmp" >/dev/null || { echo "selftest: a clean tree was refused"; exit 1; }

printf '#include "media/mkv.h"\n' >"$tmp/storage/bad.c"
if "$check" "$tmp" >/dev/null; then
	echo "selftest: storage/ including media/ was not caught"
	exit 1
fi
rm "$tmp/storage/bad.c"
printf '#include <libavformat/avformat.h>\n' >"$tmp/media/bad.c"
if "$check" "$tmp" >/dev/null; then
	echo "selftest: media/ including libav outside av_* was not caught"
	exit 1
fi
mv "$tmp/media/bad.c" "$tmp/media/av_ok.c"
"$check" "$tmp" >/dev/null || { echo "selftest: media/av_* was refused libav"; exit 1; }
mkdir -p "$tmp/server/core" "$tmp/server/video" "$tmp/server/kvs" "$tmp/server/records"
printf '#include "server/core/http.h"\n#include "storage/log.h"\n' >"$tmp/server/video/ok.c"
printf '#include "server/video/video.h"\n' >"$tmp/server/kvs/ok.c"
printf '#include "server/kvs/kvs.h"\n#include "server/core/server.h"\n' >"$tmp/server/modules.c"
"$check" "$tmp" >/dev/null || { echo "selftest: a clean server/ was refused"; exit 1; }
for bad in "core:server/video/video.h" "core:server/kvs/kvs.h" "video:server/kvs/kvs.h" \
	"kvs:server/records/records.h" "core:media/mkv.h"; do
	room=${bad%%:*} inc=${bad#*:}
	printf '#include "%s"\n' "$inc" >"$tmp/server/$room/bad.c"
	if "$check" "$tmp" >/dev/null; then
		echo "selftest: server/$room/ including $inc was not caught"
		exit 1
	fi
	rm "$tmp/server/$room/bad.c"
done
echo "layering selftest: 1 passed, 0 failed"
