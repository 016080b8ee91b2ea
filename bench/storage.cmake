# bench/storage.cmake — storage/: encrypted durable appends beside raw
# write+fdatasync and AES-GCM measured in the same run.
add_executable(bench_storage ${CMAKE_CURRENT_SOURCE_DIR}/bench_storage.c)
target_link_libraries(bench_storage PRIVATE fl_bench_common)
target_link_libraries(bench_storage PRIVATE fl_storage)
