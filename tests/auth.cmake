# tests/auth.cmake — server/auth: SigV4 verification, access keys and
# policies end to end (curl, the AWS CLI v1 and v2, boto3, framelog-put and
# faketime), the policy parser and the verifier in-process, and their fuzz
# targets.
fl_add_test(test_server_auth SOURCES test_server_auth.c LIBS fl_test_media_harness TIMEOUT 2400
            LABELS auth)
target_compile_definitions(test_server_auth PRIVATE FL_FRAMELOG_PUT="$<TARGET_FILE:framelog-put>")
add_dependencies(test_server_auth framelogd framelog-put)
fl_add_fuzz_target(fuzz_auth_policy SOURCES fuzz/fuzz_auth_policy.c LIBS fl_server
                   CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/fuzz_auth_policy)
fl_add_fuzz_target(fuzz_auth_verify SOURCES fuzz/fuzz_auth_verify.c LIBS fl_server
                   CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/fuzz_auth_verify)
fl_add_test(test_server_policy SOURCES test_server_policy.c LIBS fl_server LABELS auth)
# framelogsink with verification on (skipped under the sanitizers: the
# GStreamer tools are not instrumented, and test_sdk_gst covers the element
# there)
if(TARGET gstframelog)
  target_compile_definitions(test_server_auth PRIVATE
    FL_GST_PLUGIN_DIR="$<TARGET_FILE_DIR:gstframelog>")
  if(FL_SANITIZE)
    target_compile_definitions(test_server_auth PRIVATE FL_SANITIZE_GST=1)
  endif()
  add_dependencies(test_server_auth gstframelog)
endif()
