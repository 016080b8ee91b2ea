#!/bin/sh
# A live test pattern, encoded to H.264 and sent to framelog by framelogsink.
#
#   samples/pipeline/framelog-pipeline.sh [STREAM] [ENDPOINT] [BUILD_DIR]
#
# STREAM defaults to cam-1 (created if missing), ENDPOINT to
# http://127.0.0.1:8080 (what scripts/run.sh starts), BUILD_DIR to
# build/release (where scripts/build.sh puts the plugin). Ctrl-C ends the
# stream cleanly: gst-launch-1.0 -e sends EOS, and framelogsink waits until
# every fragment is acked PERSISTED. NUM_BUFFERS=N stops after N frames.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
stream=${1:-cam-1}
endpoint=${2:-http://127.0.0.1:8080}
FL_ROOT=$root
FL_GST_BUILD=${3:-build/release}
. "$root/scripts/gst-env.sh"

# shellcheck disable=SC2086
exec gst-launch-1.0 -e \
	videotestsrc is-live=true ${NUM_BUFFERS:+num-buffers=$NUM_BUFFERS} \
	! video/x-raw,width=640,height=360,framerate=30/1 \
	! x264enc tune=zerolatency key-int-max=30 \
	! h264parse \
	! framelogsink stream-name="$stream" endpoint="$endpoint"
