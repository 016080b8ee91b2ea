# bench/ingest.cmake — PutMedia ingest with N producers against the real
# framelogd, beside the raw disk measured in the same run.
add_executable(bench_ingest ${CMAKE_CURRENT_SOURCE_DIR}/bench_ingest.c)
target_link_libraries(bench_ingest PRIVATE fl_bench_common fl_media Threads::Threads PkgConfig::SSL
                      PkgConfig::CRYPTO fl_producer)
# -k: requests signed by the producer SDK's signer (producer-sdk/sigv4_sign.h)
target_include_directories(bench_ingest PRIVATE ${PROJECT_SOURCE_DIR}/producer-sdk)
target_compile_definitions(bench_ingest PRIVATE FL_FRAMELOGD="$<TARGET_FILE:framelogd>")
add_dependencies(bench_ingest framelogd)
