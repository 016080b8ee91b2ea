# bench/hooks.cmake — analytics hooks: dispatch cost against memcpy, ingest
# ack p99 with hooks against none (through bench_ingest), decode against
# ffmpeg -benchmark.
add_executable(bench_hooks ${CMAKE_CURRENT_SOURCE_DIR}/bench_hooks.c)
target_link_libraries(bench_hooks PRIVATE fl_bench_common fl_server fl_media Threads::Threads)
target_compile_definitions(bench_hooks PRIVATE
  FL_BENCH_INGEST="$<TARGET_FILE:bench_ingest>"
  FL_FRAMECOUNT="$<TARGET_FILE:framecount>"
  FL_HOOK_DIR="$<TARGET_FILE_DIR:thook>")
add_dependencies(bench_hooks bench_ingest framecount thook thook_b thook_slow thook_decode)
