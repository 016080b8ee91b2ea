# tests/cors.cmake — CORS on the JSON APIs and playback (server/core/cors.c,
# --cors-origins): curl against the real framelogd, and a page on another
# origin in headless Chromium (tests/browser/cors_fetch.js; skips without it).
fl_add_test(test_server_cors SOURCES test_server_cors.c LIBS fl_server fl_test_media_harness TIMEOUT 400 LABELS browser)
add_dependencies(test_server_cors framelogd)
