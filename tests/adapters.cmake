# tests/adapters.cmake - tests of the optional adapters that were built
# (adapters/*/tests/).  Included from tests/CMakeLists.txt.

# libcancelable-http: a real client (libcurl) on 127.0.0.1, the JSON read
# back strictly (jansson, found in run.cmake).
if(TARGET cancelable-http)
  pkg_check_modules(CX_CURL QUIET IMPORTED_TARGET libcurl)
  if(CX_CURL_FOUND)
    cx_add_test_executable(test_http
      SOURCES ${PROJECT_SOURCE_DIR}/adapters/http/tests/test_http.c
      LABELS unit http)
    target_link_libraries(test_http PRIVATE cancelable-http PkgConfig::CX_CURL
      PkgConfig::JANSSON)
  else()
    message(STATUS "adapters/http: tests skipped: libcurl not found "
      "(apt-get install libcurl4-openssl-dev)")
  endif()
endif()
