# bench/media.cmake — media/: Matroska parser throughput beside memcpy.
add_executable(bench_media_mkv ${CMAKE_CURRENT_SOURCE_DIR}/bench_media_mkv.c)
target_link_libraries(bench_media_mkv PRIVATE fl_media)
