# storage/ tests: the API (test_storage_log), kill -9 recovery
# (test_storage_crash; FL_CRASH_ROUNDS=N runs more rounds), damaged files
# (test_storage_corrupt) and a full disk (test_storage_diskfull).
fl_add_test(test_storage_log SOURCES test_storage_log.c LIBS fl_storage TIMEOUT 120)
fl_add_test(test_storage_crash SOURCES test_storage_crash.c LIBS fl_storage TIMEOUT 600)
fl_add_test(test_storage_corrupt SOURCES test_storage_corrupt.c LIBS fl_storage TIMEOUT 300)
fl_add_test(test_storage_diskfull SOURCES test_storage_diskfull.c LIBS fl_storage TIMEOUT 120)
fl_add_fuzz_target(fuzz_storage_chunk SOURCES fuzz/fuzz_storage_chunk.c LIBS fl_storage
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/fuzz_storage_chunk)
fl_add_test(test_storage_powerloss SOURCES test_storage_powerloss.c LIBS fl_storage TIMEOUT 600)
# open reads summaries of sealed segments, not their entries (test_storage_open)
fl_add_test(test_storage_open SOURCES test_storage_open.c LIBS fl_storage TIMEOUT 300)
