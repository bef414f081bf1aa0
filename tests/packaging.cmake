# tests/packaging.cmake - packaging tests, label `install` (included from
# tests/CMakeLists.txt):
#   /install/prefix                 cmake --install into a prefix in the build
#   /install/pkg-config             a program built with pkg-config against it
#   /install/find-package           a CMake project using find_package() and
#                                   cancelable::cancelable(_static) against it
#   /install/symbols/exported       libcancelable.so exports exactly
#                                   cancelable.sym (nm -D)
#   /install/symbols/declared       cancelable.sym lists exactly the
#                                   CX_EXPORT declarations in include/
#   /install/headers/<h>            every public header compiles alone, first
#                                   in a file, with -std=c11 -Wall -Wextra
#                                   -Wpedantic -Werror (and as C++ when a C++
#                                   compiler is installed)
#   /install/headers/all-installed  every header in include/cancelable/ is in
#                                   the install list (CX_PUBLIC_HEADERS)

set(cx_install_dir ${CMAKE_CURRENT_SOURCE_DIR}/install)
set(cx_install_work ${CMAKE_CURRENT_BINARY_DIR}/install-test)

# Flags the consumer programs need to link with a sanitized library.
set(cx_install_flags "")
if(CX_SANITIZE STREQUAL "address")
  set(cx_install_flags "-fsanitize=address,undefined")
elseif(CX_SANITIZE STREQUAL "thread")
  set(cx_install_flags "-fsanitize=thread")
endif()

find_program(CX_BASH bash)
if(NOT CX_BASH)
  message(STATUS "cancelable: bash not found, /install tests skipped")
  return()
endif()

set(cx_install_args ${PROJECT_BINARY_DIR} ${cx_install_work}
  ${CMAKE_INSTALL_LIBDIR} ${CMAKE_C_COMPILER} "${cx_install_flags}")

add_test(NAME /install/prefix
  COMMAND ${CX_BASH} ${cx_install_dir}/run_install_test.sh prefix
          ${cx_install_args})
set_tests_properties(/install/prefix PROPERTIES
  FIXTURES_SETUP cx_installed RESOURCE_LOCK cx_install_prefix)

add_test(NAME /install/pkg-config
  COMMAND ${CX_BASH} ${cx_install_dir}/run_install_test.sh pkg-config
          ${cx_install_args})
add_test(NAME /install/find-package
  COMMAND ${CX_BASH} ${cx_install_dir}/run_install_test.sh cmake
          ${cx_install_args})
set_tests_properties(/install/pkg-config /install/find-package PROPERTIES
  FIXTURES_REQUIRED cx_installed RESOURCE_LOCK cx_install_prefix
  SKIP_RETURN_CODE 77)

add_test(NAME /install/symbols/exported
  COMMAND ${CX_BASH} ${cx_install_dir}/check_symbols.sh exported
          $<TARGET_FILE:cancelable> ${PROJECT_SOURCE_DIR}/cancelable.sym)
add_test(NAME /install/symbols/declared
  COMMAND ${CX_BASH} ${cx_install_dir}/check_symbols.sh declared
          ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/cancelable.sym)

# Headers: one generated file per header, which includes it first and
# nothing else.  The compiler only checks syntax and warnings.
set(cx_header_dir ${CMAKE_CURRENT_BINARY_DIR}/header-test)
set(cx_header_flags -std=c11 -Wall -Wextra -Wpedantic -Werror ${CX_WARNINGS})
list(REMOVE_DUPLICATES cx_header_flags)
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  find_program(CX_HEADER_CXX NAMES clang++ c++ g++)
else()
  find_program(CX_HEADER_CXX NAMES g++ c++ clang++)
endif()
# Every header present, so that a new header is tested even before it is
# added to the install list (checked below).
file(GLOB cx_sub_headers RELATIVE ${PROJECT_SOURCE_DIR}/include
  ${PROJECT_SOURCE_DIR}/include/cancelable/*.h)
list(SORT cx_sub_headers)
foreach(header cancelable.h ${cx_sub_headers})
  string(MAKE_C_IDENTIFIER "${header}" stem)
  set(src ${cx_header_dir}/${stem}.c)
  file(CONFIGURE OUTPUT ${src} CONTENT
    "#include <${header}>\n/* The header must stand alone. */\ntypedef int cx_header_test_unit;\n")
  add_test(NAME /install/headers/${header}
    COMMAND ${CMAKE_C_COMPILER} ${cx_header_flags}
            -I${PROJECT_SOURCE_DIR}/include -fsyntax-only ${src})
  if(CX_HEADER_CXX)
    add_test(NAME /install/headers/${header}/c++
      COMMAND ${CX_HEADER_CXX} -x c++ -std=c++11 -Wall -Wextra -Wpedantic
              -Werror -I${PROJECT_SOURCE_DIR}/include -fsyntax-only ${src})
  endif()
endforeach()

set(cx_installed_headers "")
foreach(h IN LISTS CX_PUBLIC_HEADERS)
  get_filename_component(name ${h} NAME)
  list(APPEND cx_installed_headers cancelable/${name})
endforeach()
list(SORT cx_installed_headers)
if(cx_installed_headers STREQUAL cx_sub_headers)
  add_test(NAME /install/headers/all-installed
    COMMAND ${CMAKE_COMMAND} -E echo "every header is installed")
else()
  add_test(NAME /install/headers/all-installed
    COMMAND ${CMAKE_COMMAND} -E echo
            "FAIL: include/ has ${cx_sub_headers} but CX_PUBLIC_HEADERS installs ${cx_installed_headers}")
  set_tests_properties(/install/headers/all-installed PROPERTIES
    WILL_FAIL ON)
endif()

get_property(cx_packaging_tests DIRECTORY PROPERTY TESTS)
foreach(t IN LISTS cx_packaging_tests)
  if(t MATCHES "^/install/")
    set_tests_properties(${t} PROPERTIES LABELS install TIMEOUT 300)
  endif()
endforeach()
