# Make framelogsink visible to the GStreamer tools of this shell:
#
#   . scripts/gst-env.sh [BUILD_DIR]      (default: build/release)
#   gst-inspect-1.0 framelogsink
#
# FL_GST_BUILD, when set, wins over the argument: dash's `.` passes no
# arguments (a script sourcing this sees its own $1), so from sh scripts use
#   FL_GST_BUILD=build/debug . scripts/gst-env.sh
#
# Sourced, not run: it exports GST_PLUGIN_PATH with BUILD_DIR/gst-plugins
# (where producer-sdk/gst puts libgstframelog.so) in front of what was there.
# BUILD_DIR is taken relative to the repository's root unless absolute.
# Works in sh, dash, bash and zsh; from bash/zsh it finds the root itself,
# from plain sh source it from the root (or set FL_ROOT).
fl_gst_build=${FL_GST_BUILD:-${1:-build/release}}
if [ -z "${FL_ROOT:-}" ]; then
	if [ -n "${BASH_SOURCE:-}" ]; then
		FL_ROOT=$(cd "$(dirname "${BASH_SOURCE}")/.." && pwd)
	elif [ -n "${ZSH_VERSION:-}" ]; then
		# shellcheck disable=SC2296
		FL_ROOT=$(cd "$(dirname "${(%):-%x}")/.." && pwd)
	else
		FL_ROOT=$(pwd)
	fi
fi
case "$fl_gst_build" in
/*) fl_gst_dir=$fl_gst_build/gst-plugins ;;
*) fl_gst_dir=$FL_ROOT/$fl_gst_build/gst-plugins ;;
esac
if [ ! -f "$fl_gst_dir/libgstframelog.so" ]; then
	echo "gst-env: no $fl_gst_dir/libgstframelog.so (build first: scripts/build.sh)" >&2
fi
GST_PLUGIN_PATH=$fl_gst_dir${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}
export GST_PLUGIN_PATH
unset fl_gst_build fl_gst_dir
