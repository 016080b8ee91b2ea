# tests/sdk_ack.cmake — producer-sdk/ack.c, the SDK's parser of PutMedia
# acks (network bytes): unit tests and the fuzz target, linked against
# ack.c and common/ alone.
set(FL_SDK_ACK_INC ${PROJECT_SOURCE_DIR}/producer-sdk/include ${PROJECT_SOURCE_DIR}/producer-sdk)

fl_add_test(test_sdk_ack SOURCES test_sdk_ack.c ${PROJECT_SOURCE_DIR}/producer-sdk/ack.c
            LIBS fl_common TIMEOUT 60)
target_include_directories(test_sdk_ack PRIVATE ${FL_SDK_ACK_INC})

fl_add_fuzz_target(fuzz_sdk_ack SOURCES fuzz/fuzz_sdk_ack.c ${PROJECT_SOURCE_DIR}/producer-sdk/ack.c
  LIBS fl_common CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/fuzz_sdk_ack)
target_include_directories(fuzz_sdk_ack PRIVATE ${FL_SDK_ACK_INC})
