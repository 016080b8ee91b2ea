# tests/sdk_transport.cmake — the producer SDK's request signer and its
# built-in libwebsockets transport. The tests compile the SDK files they
# check directly (not the whole library), with the SDK's private headers.
set(FL_SDK_DIR ${PROJECT_SOURCE_DIR}/producer-sdk)

fl_add_test(test_sdk_sigv4 SOURCES test_sdk_sigv4.c ${FL_SDK_DIR}/sigv4_sign.c
            LIBS fl_server fl_common ${MBEDCRYPTO_LIB} TIMEOUT 60)
target_include_directories(test_sdk_sigv4 PRIVATE ${FL_SDK_DIR}/include ${FL_SDK_DIR})

fl_add_test(test_sdk_transport SOURCES test_sdk_transport.c ${FL_SDK_DIR}/transport_lws.c
            LIBS fl_test_media_harness fl_media fl_common PkgConfig::LWS Threads::Threads
            TIMEOUT 300)
target_include_directories(test_sdk_transport PRIVATE ${FL_SDK_DIR}/include ${FL_SDK_DIR})
add_dependencies(test_sdk_transport framelogd)
