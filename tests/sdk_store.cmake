# tests/sdk_store.cmake — the producer SDK's content store ring.
fl_add_test(test_sdk_store SOURCES test_sdk_store.c ${PROJECT_SOURCE_DIR}/producer-sdk/store.c
            TIMEOUT 120)
target_include_directories(test_sdk_store PRIVATE ${PROJECT_SOURCE_DIR}/producer-sdk)
