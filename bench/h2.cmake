# bench/h2.cmake — PutRecords over HTTP/2 on TLS (ALPN h2) against h2c and
# HTTP/1.1 over TLS, driven by h2load in the same run.
add_executable(bench_h2 ${CMAKE_CURRENT_SOURCE_DIR}/bench_h2.c)
target_link_libraries(bench_h2 PRIVATE fl_bench_common)
target_compile_definitions(bench_h2 PRIVATE FL_FRAMELOGD="$<TARGET_FILE:framelogd>")
add_dependencies(bench_h2 framelogd)
