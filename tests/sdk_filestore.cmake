# tests/sdk_filestore.cmake — producer-sdk/filestore.c, the SDK's encrypted
# on-flash content store: unit, damage and crash (SIGKILL) tests, and the
# fuzz target for its parser of file bytes. They link filestore.c on its own
# (with common/ and mbedcrypto) rather than the whole SDK library.
set(FL_SDK_FILESTORE_SRC ${PROJECT_SOURCE_DIR}/producer-sdk/filestore.c)
set(FL_SDK_FILESTORE_INC ${PROJECT_SOURCE_DIR}/producer-sdk/include
    ${PROJECT_SOURCE_DIR}/producer-sdk)

fl_add_test(test_sdk_filestore SOURCES test_sdk_filestore.c ${FL_SDK_FILESTORE_SRC}
            LIBS fl_common ${MBEDCRYPTO_LIB} TIMEOUT 300)
target_include_directories(test_sdk_filestore PRIVATE ${FL_SDK_FILESTORE_INC})

fl_add_fuzz_target(fuzz_sdk_filestore SOURCES fuzz/fuzz_sdk_filestore.c ${FL_SDK_FILESTORE_SRC}
  LIBS fl_common ${MBEDCRYPTO_LIB}
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/fuzz_sdk_filestore)
target_include_directories(fuzz_sdk_filestore PRIVATE ${FL_SDK_FILESTORE_INC})
