# tests/playback.cmake — server/playback/: HLS sessions against the real
# framelogd, read by the AWS CLI, curl and ffprobe (test media made at test
# time by ffmpeg, as media.cmake's tests do).
fl_add_test(test_playback_hls SOURCES test_playback_hls.c LIBS fl_test_media_harness fl_server
            TIMEOUT 400)
add_dependencies(test_playback_hls framelogd)
fl_add_test(test_playback_token SOURCES test_playback_token.c LIBS fl_server_playback)
fl_add_fuzz_target(fuzz_pb_token SOURCES fuzz/fuzz_pb_token.c LIBS fl_server_playback
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/fuzz_pb_token)
# Headless Chromium + hls.js (tests/browser/, installed by scripts/deps.sh
# --test); skips when they are missing. Screenshots: tests/browser-artifacts/.
fl_add_test(test_playback_browser SOURCES test_playback_browser.c LIBS fl_test_media_harness
            fl_common TIMEOUT 400 LABELS browser)
add_dependencies(test_playback_browser framelogd)
# GetClip and GetImages: the AWS CLI v2 and v1, boto3, ffprobe.
fl_add_test(test_playback_clip SOURCES test_playback_clip.c LIBS fl_test_media_harness fl_common
            TIMEOUT 400)
add_dependencies(test_playback_clip framelogd)
fl_add_fuzz_target(fuzz_pb_images_token SOURCES fuzz/fuzz_pb_images_token.c LIBS fl_server_playback
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/fuzz_pb_images_token)
# DASH sessions: the AWS CLI v2, curl and ffprobe reading the MPD.
fl_add_test(test_playback_dash SOURCES test_playback_dash.c LIBS fl_test_media_harness fl_common
            TIMEOUT 400)
add_dependencies(test_playback_dash framelogd)
