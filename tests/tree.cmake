# tests/tree.cmake - issue #4: hierarchies, nested timeouts, shields,
# progress, streams and partial results.  Included from tests/CMakeLists.txt.
cx_add_test_executable(test_hierarchy SOURCES unit/test_hierarchy.c)
cx_add_test_executable(test_shield SOURCES unit/test_shield.c)
cx_add_test_executable(test_progress SOURCES unit/test_progress.c)
cx_add_test_executable(test_stream SOURCES unit/test_stream.c)
# Issue 17 item 6: standalone and chunked streams, stream progress.
cx_add_test_executable(test_stream_open SOURCES unit/test_stream_open.c)
cx_add_test_executable(test_partial SOURCES unit/test_partial.c)
# The deep (100 000), wide (1 000 000) and memory tests: same source.
cx_add_test_executable(test_hierarchy_big SOURCES unit/test_hierarchy.c
  LABELS unit slow TIMEOUT 300)
target_compile_definitions(test_hierarchy_big PRIVATE CX_TREE_BIG)
# Async progress callbacks (issue 15 §2): real-time, and the allocation
# hook of the static library.
cx_add_test_executable(test_progress_async SOURCES unit/test_progress_async.c
  LIBRARY cancelable_static LABELS unit slow)
