# Writes a CTest include file with one add_test() per subtest that the test
# executable lists with --list.  Run at build time (POST_BUILD) by
# cx_add_test_executable() in tests/CMakeLists.txt, the way
# gtest_discover_tests() works, so a test is registered in one place only:
# its CX_TEST() line.  tests/tool/CMakeLists.txt runs it on a script
# (tool_test.sh, through bash) whenever the script changes.
#
# Inputs: EXE, OUT, LABELS (;-separated), TIMEOUT (seconds), PREFIX.
# Optional: LAUNCHER (a program that runs EXE, as bash runs a script),
# SKIP_RETURN_CODE, ENVIRONMENT (;-separated VAR=value).
set(cmd "${EXE}")
if(LAUNCHER)
  set(cmd "${LAUNCHER};${EXE}")
endif()
execute_process(COMMAND ${cmd} --list
  OUTPUT_VARIABLE names RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${cmd} --list failed (${rc})")
endif()
set(run "")
foreach(part IN LISTS cmd)
  string(APPEND run " [=[${part}]=]")
endforeach()
set(props "LABELS [=[${LABELS}]=] TIMEOUT ${TIMEOUT}")
if(DEFINED SKIP_RETURN_CODE AND NOT SKIP_RETURN_CODE STREQUAL "")
  string(APPEND props " SKIP_RETURN_CODE ${SKIP_RETURN_CODE}")
endif()
if(ENVIRONMENT)
  string(APPEND props " ENVIRONMENT [=[${ENVIRONMENT}]=]")
endif()
string(REPLACE "\n" ";" names "${names}")
set(content "")
foreach(name IN LISTS names)
  if(name STREQUAL "")
    continue()
  endif()
  string(APPEND content
    "add_test([=[${PREFIX}${name}]=]${run} [=[${name}]=])\n"
    "set_tests_properties([=[${PREFIX}${name}]=] PROPERTIES ${props})\n")
endforeach()
file(WRITE "${OUT}" "${content}")
