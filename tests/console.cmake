# tests/console.cmake — server/console/: the web console's files and its
# status call with curl, and the console in headless Chromium (tests/browser/
# console.js, installed by scripts/deps.sh --test; skips without them) while
# framelog-put pushes video. Screenshots: tests/console-artifacts/.
fl_add_test(test_console SOURCES test_console.c LIBS fl_test_media_harness fl_common m
            TIMEOUT 900 LABELS browser)
target_compile_definitions(test_console PRIVATE FL_FRAMELOG_PUT="$<TARGET_FILE:framelog-put>")
add_dependencies(test_console framelogd framelog-put)
