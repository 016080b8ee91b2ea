# tests/sdk_review.cmake — regression tests from the producer SDK review
# (tests/test_sdk_review.c): a scripted transport drives the public API, so
# no server is needed.
fl_add_test(test_sdk_review SOURCES test_sdk_review.c
            LIBS fl_producer Threads::Threads TIMEOUT 120)
