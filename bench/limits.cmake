# bench/limits.cmake — what slow-header clients cost a good producer and a
# new request, as ratios to a run without them (docs/security.md).
add_executable(bench_limits ${CMAKE_CURRENT_SOURCE_DIR}/bench_limits.c)
target_link_libraries(bench_limits PRIVATE fl_bench_common fl_media Threads::Threads)
target_compile_definitions(bench_limits PRIVATE FL_FRAMELOGD="$<TARGET_FILE:framelogd>")
add_dependencies(bench_limits framelogd)
