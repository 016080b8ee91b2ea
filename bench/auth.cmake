# bench/auth.cmake — server/auth: SigV4 verification per request beside the
# raw HMAC-SHA256 chain (key derivation + signature) it cannot avoid.
add_executable(bench_auth ${CMAKE_CURRENT_SOURCE_DIR}/bench_auth.c)
target_link_libraries(bench_auth PRIVATE fl_server fl_bench_common)
