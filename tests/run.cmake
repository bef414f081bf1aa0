# tests/run.cmake - tests of the run helpers, retries and threads (issue
# #5) and of the operation registry (issue #6).  Included from
# tests/CMakeLists.txt.

cx_add_test_executable(test_run SOURCES unit/test_run.c)
cx_add_test_executable(test_retry SOURCES unit/test_retry.c)
cx_add_test_executable(test_threads SOURCES unit/test_threads.c)
cx_add_test_executable(test_registry SOURCES unit/test_registry.c)

# 8 threads entering, exiting, querying and cancelling registered ops.  The
# program runs CX_STRESS_SECONDS seconds (10 when unset); the tests run it
# for 3 s unless CX_STRESS_SECONDS is set when configuring.
cx_add_test_executable(test_registry_stress
  SOURCES stress/test_registry_stress.c LABELS stress TIMEOUT 300)
if(DEFINED ENV{CX_STRESS_SECONDS})
  set(cx_registry_stress_seconds $ENV{CX_STRESS_SECONDS})
else()
  set(cx_registry_stress_seconds 3)
endif()
# The subtests are discovered after the build (POST_BUILD); this second
# include file, copied in place after the discovery, sets their
# environment, so both appear together.
set(cx_env_in ${CMAKE_CURRENT_BINARY_DIR}/test_registry_stress_env.cmake.in)
set(cx_env_out ${CMAKE_CURRENT_BINARY_DIR}/test_registry_stress_env.cmake)
file(WRITE ${cx_env_in}
  "foreach(t /stress/registry/mixed /stress/registry/clear-races)\n"
  "  set_tests_properties(\${t} PROPERTIES ENVIRONMENT\n"
  "    CX_STRESS_SECONDS=${cx_registry_stress_seconds})\n"
  "endforeach()\n")
add_custom_command(TARGET test_registry_stress POST_BUILD
  COMMAND ${CMAKE_COMMAND} -E copy ${cx_env_in} ${cx_env_out}
  VERBATIM)
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${cx_env_out})
