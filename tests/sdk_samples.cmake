# tests/sdk_samples.cmake — the producer SDK's sample programs end to end:
# framelog-put against the real framelogd, read back with GetMedia and
# compared packet by packet with ffprobe.
fl_add_test(test_sdk_samples SOURCES test_sdk_samples.c LIBS fl_test_media_harness m TIMEOUT 600
            LABELS sdk)
target_compile_definitions(test_sdk_samples PRIVATE FL_FRAMELOG_PUT="$<TARGET_FILE:framelog-put>")
add_dependencies(test_sdk_samples framelogd framelog-put)
