#!/bin/sh
# Carry hls.js from npm in the tree, pinned: the web console's player
# (server/console/www/vendor/hls.js-VERSION/), with its licence and where
# it came from. framelogd serves it from there; nothing is fetched at run
# time and no build step needs the network.
#
#   scripts/update-hlsjs.sh VERSION     e.g. scripts/update-hlsjs.sh 1.7.4
#
# Fetches the package with npm (`npm pack`, checked against the registry's
# integrity), copies dist/hls.min.js (its sourceMappingURL line dropped: the
# map is not carried) and LICENSE, writes SOURCE (version, tarball,
# integrity), removes the previous version's folder and points the console
# at the new one (the version is in the path, so browsers cache the file
# for good: docs/console.md). Then run the console's tests.
set -eu
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/update-hlsjs.sh VERSION}
case "$version" in
*[!0-9.]* | "") echo "update-hlsjs: VERSION is digits and dots (got $version)" >&2; exit 2 ;;
esac
www=server/console/www
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "hls.js@$version" >pack.txt)
tgz=$tmp/$(tail -n 1 "$tmp/pack.txt")
integrity=$(cd "$tmp" && npm view "hls.js@$version" dist.integrity)
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | openssl base64 -A)"
if [ "$got" != "$integrity" ]; then
	echo "update-hlsjs: $tgz does not match the registry's integrity $integrity" >&2
	exit 1
fi
tar -xzf "$tgz" -C "$tmp"
dest=$www/vendor/hls.js-$version
old=$(sed -n 's|.*vendor/hls\.js-\([0-9.]*\)/hls\.min\.js.*|\1|p' "$www/index.html" | head -n 1)
mkdir -p "$dest"
grep -v '^//# sourceMappingURL=' "$tmp/package/dist/hls.min.js" >"$dest/hls.min.js"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
printf 'hls.js %s from the npm registry\ntarball: %s\nintegrity: %s\nfiles: dist/hls.min.js (sourceMappingURL line removed), LICENSE\n' \
	"$version" "$(basename "$tgz")" "$integrity" >"$dest/SOURCE"
if [ -n "$old" ] && [ "$old" != "$version" ]; then
	rm -rf "$www/vendor/hls.js-$old"
	sed -i "s|vendor/hls\.js-$old/|vendor/hls.js-$version/|g" "$www/index.html"
fi
echo "update-hlsjs: hls.js $version in $dest (was ${old:-none})" >&2
