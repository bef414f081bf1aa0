#!/usr/bin/env bash
# scripts/test.sh - build libcancelable and run its whole test suite.
#
# Usage: bash scripts/test.sh [--sanitize address|thread] [--cc COMPILER]
#                             [--fallbacks] [--build-dir DIR] [--jobs N]
#                             [-- CTEST_ARGS...]
#
#   (no option)           gcc (or $CC), build dir `build`
#   --sanitize address    ASan+UBSan, build dir `build-asan`
#   --sanitize thread     TSan, build dir `build-tsan`
#   --cc clang            CC=clang, build dir `build-clang`
#                         (with --sanitize: build-clang-asan / build-clang-tsan)
#   --fallbacks           the portable code paths of systems without futex(2),
#                         eventfd(2) and pthread_cond_clockwait(), on this
#                         one; build dir `build-fallbacks`
#   --build-dir DIR       use DIR instead
#   --jobs N              build and test parallelism (default: nproc)
#   -- ARGS               passed to ctest (for example: -- -L unit)
#
# Installs missing dependencies first (scripts/deps.sh).  Exits non-zero when
# the configure, the build or any test fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sanitize=""
cc=""
build_dir=""
fallbacks=""
jobs=$(nproc 2>/dev/null || echo 2)
ctest_args=()

usage() {
  sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

while (($# > 0)); do
  case "$1" in
    --sanitize)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      sanitize=$2; shift 2 ;;
    --sanitize=*) sanitize=${1#*=}; shift ;;
    --cc)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      cc=$2; shift 2 ;;
    --cc=*) cc=${1#*=}; shift ;;
    --build-dir)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      build_dir=$2; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --fallbacks) fallbacks=1; shift ;;
    --jobs|-j)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      jobs=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; ctest_args=("$@"); break ;;
    *) echo "test.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

case "$sanitize" in
  ""|address|thread) ;;
  *) echo "test.sh: --sanitize takes 'address' or 'thread'" >&2; exit 2 ;;
esac

bash "$root/scripts/deps.sh"

if [[ -z "$build_dir" ]]; then
  build_dir=build
  [[ -n "$cc" && "$cc" != gcc ]] && build_dir+="-$(basename "$cc")"
  case "$sanitize" in
    address) build_dir+=-asan ;;
    thread) build_dir+=-tsan ;;
  esac
  [[ -n "$fallbacks" ]] && build_dir+=-fallbacks
fi
[[ "$build_dir" = /* ]] || build_dir="$root/$build_dir"

if [[ -n "$cc" ]]; then
  export CC="$cc"
fi

if [[ -n "$sanitize" ]]; then
  # Real-time tests get more room under the sanitizers (read by CMake at
  # configure time), and every report fails the test.
  export CX_TEST_TIMEOUT_SCALE=${CX_TEST_TIMEOUT_SCALE:-3}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:exitcode=23}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=24}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-exitcode=23}
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:exitcode=66}
fi

echo "test.sh: build dir $build_dir${sanitize:+, sanitizer $sanitize}${cc:+, CC=$cc}"

# A cache made with another compiler cannot be reused: start that dir anew.
if [[ -n "$cc" && -f "$build_dir/CMakeCache.txt" ]]; then
  cached=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
  want=$(command -v "$cc" || echo "$cc")
  if [[ -n "$cached" && "$(readlink -f "$cached")" != "$(readlink -f "$want")" ]]; then
    rm -rf "$build_dir"
  fi
fi

platform=()
if [[ -n "$fallbacks" ]]; then
  # Preset the feature checks' cache entries: CMake then skips the checks.
  platform=(-DCX_HAVE_FUTEX=0 -DCX_HAVE_EVENTFD=0
    -DCX_HAVE_PTHREAD_COND_CLOCKWAIT=0)
fi

# The browser test of the dashboard runs once: in the default suite.
browser=OFF
[[ -z "$sanitize" && -z "$cc" && -z "$fallbacks" ]] && browser=ON
cmake -S "$root" -B "$build_dir" \
  -DCX_BUILD_TESTS=ON -DCX_BUILD_EXAMPLES=ON -DCX_BROWSER_TESTS=$browser \
  "-DCX_SANITIZE=$sanitize" "${platform[@]}"
cmake --build "$build_dir" -j "$jobs"

cd "$build_dir"
ctest --output-on-failure -j "$jobs" "${ctest_args[@]}"
