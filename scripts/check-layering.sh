#!/bin/sh
# Check the dependency rules of DESIGN.md on the sources: every #include of a
# project header from a folder must name a folder that folder may know.
#
#   common/        -> (nothing)
#   media/         -> common   (media/av_* may also use libav*)
#   storage/       -> common
#   producer-sdk/  -> media common
#   server/core/   -> storage common             (the core knows no feature)
#   server/video/  -> server/core storage media common
#   server/<feature>/ (kvs, playback, records, hooks, auth, webrtc)
#                  -> server/core server/video storage media common
#                     (a feature never knows another feature)
#   server/*.c     -> anything in server/ (main.c and the registration
#                     list, modules.c: the only files that know the features)
#   samples/       -> producer-sdk (public headers only) common
#   tests/, bench/ -> anything
#
# Library use outside the C library is checked by the include lines too:
# storage/ may not include libav*, lws or gst; media/ (but its av_ files)
# may not include any library header at all.
#
#   scripts/check-layering.sh [ROOT]   (default: this tree)
set -eu
cd "${1:-$(dirname "$0")/..}"

fail=0
check() { # folder allowed-project-folders forbidden-system-pattern [find-depth]
	folder=$1 allowed=$2 forbidden=$3 depth=${4:-}
	[ -d "$folder" ] || return 0
	for f in $(find "$folder" ${depth:+-maxdepth $depth} -name '*.[ch]' | sort); do
		grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r line; do
			inc=$(printf '%s' "$line" | sed 's/.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/')
			case "$inc" in
			server/*/*) # server's rooms are folders of their own
				rest=${inc#server/}
				dir=server/${rest%%/*}
				;;
			*/*) dir=${inc%%/*} ;;
			*) continue ;; # same folder
			esac
			ok=0
			for a in $folder $allowed; do
				[ "$dir" = "${a%/}" ] && ok=1
			done
			if [ $ok -eq 0 ]; then
				echo "layering: $f includes \"$inc\": $folder may not know $dir/"
				echo x >>"$tmp"
			fi
		done
		if [ -n "$forbidden" ]; then
			case "$f" in
			media/av_*) continue ;;
			esac
			if grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*<($forbidden)" "$f"; then
				echo "layering: $f includes a library $folder may not use"
				echo x >>"$tmp"
			fi
		fi
	done
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
check common "" "libwebsockets|openssl|sqlite3|libav|gst|mbedtls|srtp"
check media "common" "libwebsockets|openssl|sqlite3|libav|libsw|gst|mbedtls|srtp"
check storage "common" "libwebsockets|libav|libsw|gst|mbedtls|srtp"
check producer-sdk "media common" "sqlite3|libav|libsw|srtp"
check server/core "storage common" "libav|libsw|gst|mbedtls|srtp"
check server/video "server/core storage media common" ""
for feature in server/*/; do
	feature=${feature%/}
	case "$feature" in
	server/core | server/video) continue ;;
	esac
	check "$feature" "server/core server/video storage media common" ""
done
rooms=$(for d in server/*/; do printf '%s ' "${d%/}"; done)
check server "server $rooms storage media common" "" 1
check samples "producer-sdk common" ""
if [ -s "$tmp" ]; then
	echo "layering: FAILED"
	exit 1
fi
echo "layering: 1 passed, 0 failed"
