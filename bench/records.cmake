# bench/records.cmake — the Kinesis Data Streams API (PutRecords,
# GetRecords) against the real framelogd, beside kinesalite and the raw
# disk measured in the same run.
add_executable(bench_records ${CMAKE_CURRENT_SOURCE_DIR}/bench_records.c)
target_link_libraries(bench_records PRIVATE fl_bench_common Threads::Threads)
target_compile_definitions(bench_records PRIVATE FL_FRAMELOGD="$<TARGET_FILE:framelogd>"
                                                 FL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_dependencies(bench_records framelogd)
