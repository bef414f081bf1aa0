# tests/adapters.cmake - tests of the optional adapters that were built
# (adapters/*/tests/).  Included from tests/CMakeLists.txt.

# Each adapter's tests carry the label adapter too: the allocation-failure
# sweep (scripts/alloc-sweep.sh) covers the core library and leaves them
# out.

# libcancelable-http: a real client (libcurl) on 127.0.0.1, the JSON read
# back strictly (jansson, found in run.cmake).
if(TARGET cancelable-http)
  pkg_check_modules(CX_CURL QUIET IMPORTED_TARGET libcurl)
  if(CX_CURL_FOUND)
    cx_add_test_executable(test_http
      SOURCES ${PROJECT_SOURCE_DIR}/adapters/http/tests/test_http.c
      LABELS unit http adapter)
    target_link_libraries(test_http PRIVATE cancelable-http PkgConfig::CX_CURL
      PkgConfig::JANSSON)
  else()
    message(STATUS "adapters/http: tests skipped: libcurl not found "
      "(apt-get install libcurl4-openssl-dev)")
  endif()
endif()

# libcancelable-uv: on a real libuv loop.
if(TARGET cancelable-uv)
  pkg_check_modules(CX_UV REQUIRED IMPORTED_TARGET libuv)
  cx_add_test_executable(test_uv
    SOURCES ${PROJECT_SOURCE_DIR}/adapters/uv/tests/test_uv.c
    LABELS unit uv adapter stress)
  target_link_libraries(test_uv PRIVATE cancelable-uv PkgConfig::CX_UV)
endif()

# libcancelable-glib: on a real GMainContext, with real GCancellables.
if(TARGET cancelable-glib)
  pkg_check_modules(CX_GIO REQUIRED IMPORTED_TARGET glib-2.0 gio-2.0)
  cx_add_test_executable(test_glib
    SOURCES ${PROJECT_SOURCE_DIR}/adapters/glib/tests/test_glib.c
    LABELS unit glib adapter stress)
  target_link_libraries(test_glib PRIVATE cancelable-glib PkgConfig::CX_GIO)
endif()

# The dashboard in a real browser (label `browser`): headless chromium
# driven by python3-selenium against examples/web_progress.  Slow to start,
# so only where CX_BROWSER_TESTS is on (scripts/test.sh's default suite, not
# the sanitizer ones); it skips (77) when chromium or selenium is missing.
option(CX_BROWSER_TESTS "Run the dashboard's browser test" OFF)
if(CX_BROWSER_TESTS AND TARGET web_progress)
  # Debian's python3-selenium belongs to the system interpreter.
  find_program(CX_SYSTEM_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
  if(NOT CX_SYSTEM_PYTHON3)
    find_program(CX_SYSTEM_PYTHON3 NAMES python3 REQUIRED)
  endif()
  add_test(NAME /browser/dashboard
    COMMAND ${CX_SYSTEM_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/browser/test_dashboard.py
            $<TARGET_FILE:web_progress> ${PROJECT_BINARY_DIR}/dashboard.png)
  set_tests_properties(/browser/dashboard PROPERTIES
    LABELS browser SKIP_RETURN_CODE 77 TIMEOUT 240)
endif()

# libcancelable-nats: a real nats-server on 127.0.0.1 (the tests start it,
# and skip when it is not installed) and helper processes (nats_peer).
if(TARGET cancelable-nats)
  add_executable(nats_peer
    ${PROJECT_SOURCE_DIR}/adapters/nats/tests/nats_peer.c)
  target_link_libraries(nats_peer PRIVATE cancelable-nats)
  target_compile_options(nats_peer PRIVATE ${CX_WARNINGS})
  target_compile_definitions(nats_peer PRIVATE _GNU_SOURCE)
  cx_add_test_executable(test_nats
    SOURCES ${PROJECT_SOURCE_DIR}/adapters/nats/tests/test_nats.c
      ${PROJECT_SOURCE_DIR}/adapters/nats/tests/nats_testlib.c
    LABELS unit nats adapter TIMEOUT 180)
  # libnats itself too: the tests read events and buckets directly.
  pkg_check_modules(CX_TEST_LIBNATS REQUIRED IMPORTED_TARGET libnats)
  target_link_libraries(test_nats PRIVATE cancelable-nats
    PkgConfig::CX_TEST_LIBNATS)
  target_compile_definitions(test_nats PRIVATE
    CX_NATS_PEER="$<TARGET_FILE:nats_peer>")
  add_dependencies(test_nats nats_peer)
  # The HTTP dashboard's aggregate mode fed by NATS (`cancelable ps --nats
  # --serve-cancel`), read with libcurl: needs both adapters and the tool.
  if(TARGET cancelable-http AND TARGET cancelable_tool AND CX_CURL_FOUND)
    cx_add_test_executable(test_nats_aggregate
      SOURCES ${PROJECT_SOURCE_DIR}/adapters/nats/tests/test_aggregate.c
        ${PROJECT_SOURCE_DIR}/adapters/nats/tests/nats_testlib.c
      LABELS unit nats http adapter TIMEOUT 120)
    target_link_libraries(test_nats_aggregate PRIVATE PkgConfig::CX_CURL)
    target_compile_definitions(test_nats_aggregate PRIVATE
      CX_NATS_PEER="$<TARGET_FILE:nats_peer>"
      CX_TOOL="$<TARGET_FILE:cancelable_tool>")
    add_dependencies(test_nats_aggregate nats_peer cancelable_tool)
  endif()
  # The tool on NATS (tools/cancelable/bus.c), one CTest entry per case.
  find_program(CX_NATS_BASH bash)
  if(TARGET cancelable_tool AND CX_NATS_BASH)
    set(script ${PROJECT_SOURCE_DIR}/tests/tool/nats_tool_test.sh)
    foreach(case cancel-by-name cancel-by-status ps-json parent-cascade
                 deadline-inherited no-server)
      add_test(NAME tool/nats/${case}
        COMMAND ${CX_NATS_BASH} ${script} ${case})
      set_tests_properties(tool/nats/${case} PROPERTIES
        LABELS "tool;nats;adapter" SKIP_RETURN_CODE 77 TIMEOUT 120
        ENVIRONMENT "CANCELABLE=$<TARGET_FILE:cancelable_tool>")
    endforeach()
  endif()
endif()
