# tests/hooks.cmake — server/hooks/: analytics hooks loaded into the real
# framelogd (test_hooks), with small test hooks built from one source
# (tests/hooks/test_hook.c) under several names.
function(fl_test_hook name)
  cmake_parse_arguments(H "" "" "DEFS" ${ARGN})
  add_library(${name} MODULE hooks/test_hook.c)
  target_link_libraries(${name} PRIVATE framelog_hook_api)
  target_compile_definitions(${name} PRIVATE TEST_HOOK_NAME="${name}" ${H_DEFS})
  set_target_properties(${name} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden)
endfunction()
fl_test_hook(thook)
fl_test_hook(thook_b)
fl_test_hook(thook_slow)
fl_test_hook(thook_decode DEFS TEST_HOOK_NO_FRAME)
fl_test_hook(thook_abi2 DEFS TEST_HOOK_ABI_MAJOR=2)
fl_test_hook(thook_minor DEFS TEST_HOOK_ABI_MINOR=99)

fl_add_test(test_hooks SOURCES test_hooks.c LIBS fl_test_media_harness TIMEOUT 600)
add_dependencies(test_hooks framelogd framecount thook thook_b thook_slow thook_decode thook_abi2 thook_minor)
target_compile_definitions(test_hooks PRIVATE
  FL_FRAMECOUNT="$<TARGET_FILE:framecount>"
  FL_HOOK_DIR="$<TARGET_FILE_DIR:thook>")
