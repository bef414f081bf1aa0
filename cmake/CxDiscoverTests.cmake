# Writes a CTest include file with one add_test() per subtest that the test
# executable lists with --list.  Run at build time (POST_BUILD) by
# cx_add_test_executable() in tests/CMakeLists.txt, the way
# gtest_discover_tests() works, so a test is registered in one place only:
# its CX_TEST() line.
#
# Inputs: EXE, OUT, LABELS (;-separated), TIMEOUT (seconds), PREFIX.
execute_process(COMMAND "${EXE}" --list
  OUTPUT_VARIABLE names RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} --list failed (${rc})")
endif()
string(REPLACE "\n" ";" names "${names}")
set(content "")
foreach(name IN LISTS names)
  if(name STREQUAL "")
    continue()
  endif()
  string(APPEND content
    "add_test([=[${PREFIX}${name}]=] [=[${EXE}]=] [=[${name}]=])\n"
    "set_tests_properties([=[${PREFIX}${name}]=] PROPERTIES "
    "LABELS [=[${LABELS}]=] TIMEOUT ${TIMEOUT})\n")
endforeach()
file(WRITE "${OUT}" "${content}")
