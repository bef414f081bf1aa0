# cmake/CxAdapter.cmake - the one pattern of the optional adapters under
# adapters/ (HTTP, NATS, event loops).  Each is a library of its own,
# libcancelable-NAME, on the public API of libcancelable (and util/), with
# its own headers under include/cancelable/, pkg-config file and CMake
# target cancelable::NAME.  Its dependencies are found with pkg-config;
# when one is missing the adapter is skipped with a message saying what to
# install, and the rest of the build goes on.
#
# cx_add_adapter(NAME
#   PKG_MODULES mod...      pkg-config modules it needs (all required)
#   INSTALL_HINT text       what to install when they are missing
#   SOURCES file...         its sources
#   HEADERS file...         its public headers (installed in cancelable/)
#   DESCRIPTION text        for the .pc file
#   PUBLIC_DEPS)            its public headers include the modules' headers
#                           and programs call them (libuv, GLib): the .pc
#                           file lists them under Requires, so that
#                           `pkg-config --libs cancelable-NAME` links them
# Sets CX_ADAPTER_<NAME>_FOUND in the caller's scope.
include_guard(GLOBAL)
find_package(PkgConfig REQUIRED)

function(cx_add_adapter name)
  cmake_parse_arguments(A "PUBLIC_DEPS" "INSTALL_HINT;DESCRIPTION"
    "PKG_MODULES;SOURCES;HEADERS" ${ARGN})
  string(TOUPPER "${name}" upper)
  pkg_check_modules(CX_ADAPTER_${upper}_DEPS QUIET IMPORTED_TARGET
    ${A_PKG_MODULES})
  if(NOT CX_ADAPTER_${upper}_DEPS_FOUND)
    message(STATUS "adapters/${name}: skipped: ${A_PKG_MODULES} not found "
      "(${A_INSTALL_HINT})")
    set(CX_ADAPTER_${upper}_FOUND FALSE PARENT_SCOPE)
    return()
  endif()
  message(STATUS "adapters/${name}: building libcancelable-${name}")
  set(target cancelable-${name})
  add_library(${target} SHARED ${A_SOURCES} ${PROJECT_SOURCE_DIR}/util/cxu_json.c
    ${PROJECT_SOURCE_DIR}/util/cxu_utf8.c)
  target_include_directories(${target}
    PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${PROJECT_SOURCE_DIR}/util ${PROJECT_BINARY_DIR})
  target_compile_definitions(${target} PRIVATE CX_BUILDING_ADAPTER
    _GNU_SOURCE)
  target_compile_options(${target} PRIVATE ${CX_WARNINGS})
  target_link_libraries(${target} PUBLIC cancelable
    PRIVATE PkgConfig::CX_ADAPTER_${upper}_DEPS)
  # $ORIGIN: the installed adapter finds libcancelable next to itself.
  set_target_properties(${target} PROPERTIES
    VERSION ${PROJECT_VERSION} SOVERSION ${CX_SOVERSION}
    C_VISIBILITY_PRESET hidden EXPORT_NAME ${name}
    INSTALL_RPATH "$ORIGIN")
  add_library(cancelable::${name} ALIAS ${target})

  install(TARGETS ${target} EXPORT cancelable-${name}Targets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES ${A_HEADERS}
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cancelable)
  install(EXPORT cancelable-${name}Targets NAMESPACE cancelable::
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cancelable)
  set(CX_ADAPTER_NAME ${name})
  set(CX_ADAPTER_DESCRIPTION "${A_DESCRIPTION}")
  string(REPLACE ";" " " modules "${A_PKG_MODULES}")
  if(A_PUBLIC_DEPS)
    set(CX_ADAPTER_REQUIRES "cancelable ${modules}")
    set(CX_ADAPTER_REQUIRES_PRIVATE "")
  else()
    set(CX_ADAPTER_REQUIRES "cancelable")
    set(CX_ADAPTER_REQUIRES_PRIVATE "${modules}")
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/cmake/cancelable-adapter.pc.in
    ${PROJECT_BINARY_DIR}/cancelable-${name}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/cancelable-${name}.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  set(CX_ADAPTER_${upper}_FOUND TRUE PARENT_SCOPE)
endfunction()
