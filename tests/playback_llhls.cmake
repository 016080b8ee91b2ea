# tests/playback_llhls.cmake — LL-HLS (parts from the live tail, blocking
# reloads) and the segment cache's single-flight, against the real
# framelogd with a GStreamer real-time producer, curl and ffprobe.
fl_add_test(test_playback_llhls SOURCES test_playback_llhls.c LIBS fl_test_media_harness fl_common
            TIMEOUT 400)
add_dependencies(test_playback_llhls framelogd)
