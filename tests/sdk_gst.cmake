# tests/sdk_gst.cmake — framelogsink (producer-sdk/gst) end to end: pipelines
# run by gst-launch-1.0 against the real framelogd, checked with GetMedia and
# ffprobe. Cases skip (saying why) when a GStreamer element is not installed.
#
# Under FL_SANITIZE the plugin is instrumented but the GStreamer tools are
# not: the test runs them with LD_PRELOAD of the compiler's ASan and UBSan
# runtimes (FL_GST_PRELOAD).
if(TARGET gstframelog)
  set(FL_GST_PRELOAD "")
  if(FL_SANITIZE)
    foreach(rt libasan.so libubsan.so)
      execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=${rt}
                      OUTPUT_VARIABLE rt_path OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(IS_ABSOLUTE "${rt_path}" AND EXISTS "${rt_path}")
        list(APPEND FL_GST_PRELOAD ${rt_path})
      endif()
    endforeach()
    list(JOIN FL_GST_PRELOAD ":" FL_GST_PRELOAD)
  endif()
  fl_add_test(test_sdk_gst SOURCES test_sdk_gst.c LIBS fl_test_media_harness PkgConfig::GST
              TIMEOUT 600 LABELS gst)
  target_compile_definitions(test_sdk_gst PRIVATE
    FL_GST_PLUGIN_DIR="$<TARGET_FILE_DIR:gstframelog>"
    FL_GST_PRELOAD="${FL_GST_PRELOAD}")
  add_dependencies(test_sdk_gst framelogd gstframelog)
endif()
