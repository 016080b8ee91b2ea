# bench/sdk.cmake — libframelog-producer: CPU per frame beside memcpy, the
# most the loopback framelogd takes, heap beyond the store (counted through
# the allocator hooks) and the stripped size of the shared library.
add_executable(bench_sdk ${CMAKE_CURRENT_SOURCE_DIR}/bench_sdk.c)
target_link_libraries(bench_sdk PRIVATE fl_producer fl_bench_common PkgConfig::AV Threads::Threads)
target_compile_definitions(bench_sdk PRIVATE FL_FRAMELOGD="$<TARGET_FILE:framelogd>"
                           FL_PRODUCER_SO="$<TARGET_FILE:framelog-producer>")
add_dependencies(bench_sdk framelogd framelog-producer)
