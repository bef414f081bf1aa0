# tests/sources.cmake - issue #3: cancellation sources (custom sources,
# signals, conditions, resources, composites) and their stress test.
# Included from tests/CMakeLists.txt.
cx_add_test_executable(test_sources SOURCES unit/test_sources.c
  ../examples/sources/file_source.c)
# Static: cx_test_quiesce() (tests/common/cx_test_quiesce.c).
cx_add_test_executable(test_signal_source SOURCES unit/test_signal_source.c
  LIBRARY cancelable_static LABELS unit signal)
cx_add_test_executable(test_condition SOURCES unit/test_condition.c
  LIBRARY cancelable_static)
cx_add_test_executable(test_composite SOURCES unit/test_composite.c
  LIBRARY cancelable_static LABELS unit signal)
cx_add_test_executable(test_sources_stress SOURCES stress/test_sources_stress.c
  LABELS stress TIMEOUT 300)
