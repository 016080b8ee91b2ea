# tests/hooks_samples.cmake — the sample hooks of samples/hooks/ (motion,
# webhook) loaded into the real framelogd: test media made by ffmpeg at
# test time, records read back with the AWS CLI, webhook events received
# by the sample receiver (Python's http.server).
fl_add_test(test_hooks_motion SOURCES test_hooks_motion.c LIBS fl_test_media_harness fl_common
            TIMEOUT 400 LABELS hooks)
target_compile_definitions(test_hooks_motion PRIVATE FL_HOOK_MOTION="$<TARGET_FILE:motion>")
add_dependencies(test_hooks_motion framelogd motion)
fl_add_test(test_hooks_webhook SOURCES test_hooks_webhook.c LIBS fl_test_media_harness fl_common
            TIMEOUT 400 LABELS hooks)
target_compile_definitions(test_hooks_webhook PRIVATE FL_HOOK_WEBHOOK="$<TARGET_FILE:webhook>"
  FL_WEBHOOK_RECEIVER="${PROJECT_SOURCE_DIR}/samples/hooks/webhook/receiver.py")
add_dependencies(test_hooks_webhook framelogd webhook)
