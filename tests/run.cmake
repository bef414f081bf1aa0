# tests/run.cmake - tests of the run helpers, retries and threads (issue
# #5) and of the operation registry (issue #6).  Included from
# tests/CMakeLists.txt.

cx_add_test_executable(test_run SOURCES unit/test_run.c)
cx_add_test_executable(test_expr SOURCES unit/test_expr.c)
cx_add_test_executable(test_retry SOURCES unit/test_retry.c)
cx_add_test_executable(test_guard SOURCES unit/test_guard.c)
cx_add_test_executable(test_blocking SOURCES unit/test_blocking.c
  LIBRARY cancelable_static)
cx_add_test_executable(test_threads SOURCES unit/test_threads.c)
cx_add_test_executable(test_registry SOURCES unit/test_registry.c)
cx_add_test_executable(test_registry_query SOURCES unit/test_registry_query.c)

# The JSON export, parsed back with jansson (a test-only dependency).
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
cx_add_test_executable(test_json SOURCES unit/test_json.c)
target_link_libraries(test_json PRIVATE PkgConfig::JANSSON)

# 8 threads entering, exiting, querying and cancelling registered ops for
# 10 s (CX_STRESS_SECONDS in the environment shortens it for local runs).
cx_add_test_executable(test_registry_stress
  SOURCES stress/test_registry_stress.c LABELS stress TIMEOUT 300)
