# tests/auth.cmake — server/auth: SigV4 verification, access keys and
# policies end to end (curl, the AWS CLI v1 and v2, boto3, framelog-put and
# faketime), the policy parser and the verifier in-process, and their fuzz
# targets.
fl_add_test(test_server_auth SOURCES test_server_auth.c LIBS fl_test_media_harness TIMEOUT 900
            LABELS auth)
target_compile_definitions(test_server_auth PRIVATE FL_FRAMELOG_PUT="$<TARGET_FILE:framelog-put>")
add_dependencies(test_server_auth framelogd framelog-put)
