# tests/sdk_e2e.cmake — the producer SDK end to end against the real
# framelogd: frames in through libframelog-producer, out through GetMedia,
# compared frame by frame; server restarts, a fault-injecting TCP proxy
# (tcp_proxy.c), full stores, a producer killed with -9 and restarted on its
# file store (sdk_producer_child.c), and the errors of the header. Media is
# made by ffmpeg at test time (320x240, a few seconds) and read with
# libavformat (sdk_test_frames.c).
add_library(fl_test_sdk_frames STATIC sdk_test_frames.c)
target_link_libraries(fl_test_sdk_frames PUBLIC fl_media PkgConfig::AV)
target_include_directories(fl_test_sdk_frames PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})

add_executable(sdk_producer_child sdk_producer_child.c)
target_link_libraries(sdk_producer_child PRIVATE fl_test_sdk_frames fl_producer)

fl_add_test(test_sdk_e2e SOURCES test_sdk_e2e.c tcp_proxy.c
            LIBS fl_test_sdk_frames fl_test_media_harness fl_producer Threads::Threads
            TIMEOUT 400 LABELS e2e)
add_dependencies(test_sdk_e2e framelogd sdk_producer_child)
