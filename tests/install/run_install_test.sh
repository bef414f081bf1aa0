#!/usr/bin/env bash
# tests/install/run_install_test.sh - CTest driver for the /install/* tests
# (tests/packaging.cmake).
#
# Usage: run_install_test.sh MODE BUILD_DIR WORK_DIR LIBDIR CC [CFLAGS]
#   MODE       prefix      `cmake --install BUILD_DIR` into WORK_DIR/prefix
#              pkg-config  build consumer.c with `pkg-config --cflags --libs
#                          cancelable` against that prefix, and run it
#              cmake       build this folder's CMake project (find_package)
#                          against that prefix, and run both programs
#   BUILD_DIR  the configured and built libcancelable tree
#   WORK_DIR   scratch folder (inside the build tree)
#   LIBDIR     CMAKE_INSTALL_LIBDIR of that build (lib, lib64, ...)
#   CC         the C compiler of that build
#   CFLAGS     extra flags for compiling and linking (the sanitizer flags of
#              that build), may be empty
# Exits 77 (CTest SKIP_RETURN_CODE) when pkg-config is missing.
set -euo pipefail

if (($# < 5)); then
  sed -n '2,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
fi
mode=$1 build_dir=$2 work_dir=$3 libdir=$4 cc=$5 extra=${6:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix="$work_dir/prefix"
read -r -a extra_flags <<<"$extra"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The programs run against the installed shared library only.
export LD_LIBRARY_PATH="$prefix/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

check_output() { # $1: program
  local out
  out=$("$1") || fail "$1 exited with $?"
  printf '%s\n' "$out"
  grep -q '^consumer: ok$' <<<"$out" || fail "$1 did not print 'consumer: ok'"
}

case "$mode" in
  prefix)
    rm -rf "$prefix"
    cmake --install "$build_dir" --prefix "$prefix"
    for f in include/cancelable.h include/cancelable/token.h \
      "$libdir/libcancelable.so" "$libdir/libcancelable.a" \
      "$libdir/pkgconfig/cancelable.pc" \
      "$libdir/cmake/cancelable/cancelableConfig.cmake" \
      "$libdir/cmake/cancelable/cancelableConfigVersion.cmake" \
      "$libdir/cmake/cancelable/cancelableTargets.cmake"; do
      [[ -e "$prefix/$f" ]] || fail "not installed: $f"
    done
    # Nothing private may be installed.
    if find "$prefix" -name 'cx_config.h' -o -name 'cx_test*' | grep -q .; then
      fail "internal files installed under $prefix"
    fi
    echo "installed into $prefix"
    ;;

  pkg-config)
    if ! command -v pkg-config >/dev/null 2>&1; then
      echo "SKIP: pkg-config is not installed"
      exit 77
    fi
    [[ -d "$prefix" ]] || fail "$prefix missing: run /install/prefix first"
    export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
    unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
    cflags=$(pkg-config --cflags cancelable) || fail "pkg-config --cflags"
    libs=$(pkg-config --libs cancelable) || fail "pkg-config --libs"
    echo "pkg-config --cflags: $cflags"
    echo "pkg-config --libs: $libs"
    # The .pc file must point into the prefix the package was installed to
    # (cmake --install --prefix), not the one configured at build time.
    real_prefix=$(cd "$prefix" && pwd -P)
    ok=0
    for flag in $cflags $libs; do
      case "$flag" in
        -I*|-L*)
          dir=${flag:2}
          if [[ -d "$dir" && "$(cd "$dir" && pwd -P)" == "$real_prefix"/* ]]
          then
            ok=1
          fi
          ;;
      esac
    done
    ((ok)) || fail "cancelable.pc does not point into $prefix (it is not" \
      "relocatable: its prefix is fixed at configure time)"
    out_dir="$work_dir/consumer-pkg-config"
    mkdir -p "$out_dir"
    # shellcheck disable=SC2086 # pkg-config output is a list of words
    "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror "${extra_flags[@]}" \
      $cflags -o "$out_dir/consumer" "$here/consumer.c" $libs \
      "${extra_flags[@]}"
    check_output "$out_dir/consumer"
    ;;

  cmake)
    [[ -d "$prefix" ]] || fail "$prefix missing: run /install/prefix first"
    out_dir="$work_dir/consumer-cmake"
    rm -rf "$out_dir"
    cmake -S "$here" -B "$out_dir" \
      "-DCMAKE_PREFIX_PATH=$prefix" \
      "-DCMAKE_C_COMPILER=$cc" \
      "-DCMAKE_C_FLAGS=$extra" \
      "-DCMAKE_EXE_LINKER_FLAGS=$extra" \
      -DCMAKE_FIND_PACKAGE_NO_SYSTEM_PACKAGE_REGISTRY=ON \
      -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
    cmake --build "$out_dir"
    # The package found must be the one in the prefix.
    grep -q "^cancelable_DIR:PATH=$prefix/" "$out_dir/CMakeCache.txt" ||
      fail "find_package found a cancelable outside $prefix"
    check_output "$out_dir/consumer"
    check_output "$out_dir/consumer_static"
    ;;

  *)
    fail "unknown mode '$mode'"
    ;;
esac
