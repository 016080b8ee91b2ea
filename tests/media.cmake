# tests/media.cmake — media/: Matroska parser and writer, NAL helpers, the
# libav remux/thumbnail part, and their fuzz targets. The tests that need
# ffmpeg/ffprobe/gst-launch-1.0 make their media at test time in a temporary
# folder (a few seconds at 320x240) and skip when the tool is missing.
fl_add_test(test_media_mkv SOURCES test_media_mkv.c LIBS fl_media TIMEOUT 120)
fl_add_test(test_media_mkv_files SOURCES test_media_mkv_files.c LIBS fl_media TIMEOUT 150)
fl_add_test(test_media_nal SOURCES test_media_nal.c LIBS fl_media TIMEOUT 150)
fl_add_test(test_media_av SOURCES test_media_av.c LIBS fl_media_av TIMEOUT 150)

fl_add_fuzz_target(fuzz_mkv_parser SOURCES fuzz/fuzz_mkv_parser.c LIBS fl_media
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/fuzz_mkv_parser)
fl_add_fuzz_target(fuzz_nal SOURCES fuzz/fuzz_nal.c LIBS fl_media
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/fuzz_nal)
