# bench/playback.cmake — HLS playback against the real framelogd: LL-HLS
# against plain HLS live edge delay, N viewers of one stream beside the
# server's bare HTTP round trip, remux cost beside ffmpeg -c copy.
add_executable(bench_playback ${CMAKE_CURRENT_SOURCE_DIR}/bench_playback.c)
target_link_libraries(bench_playback PRIVATE fl_bench_common Threads::Threads)
target_compile_definitions(bench_playback PRIVATE FL_FRAMELOGD="$<TARGET_FILE:framelogd>")
add_dependencies(bench_playback framelogd)
