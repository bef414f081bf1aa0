#!/usr/bin/env bash
# scripts/fuzz.sh - build the libFuzzer targets of fuzz/ with clang (ASan +
# UBSan, -DCX_BUILD_FUZZERS=ON) and run each one for a while, starting from
# its seeds in fuzz/corpus/<target>/.
#
# Usage: bash scripts/fuzz.sh [--seconds N] [--build-dir DIR] [--jobs N]
#                             [TARGET...]
#
#   --seconds N       run each target N seconds (default 20)
#   --build-dir DIR   default build-fuzz
#   --jobs N          build parallelism (default: nproc)
#   TARGET            expr duration signames progress cli json export
#                     (default: all of them, one after the other)
#
# Inputs that find new paths go to DIR/corpus/<target> (kept from run to
# run, never into the source tree).  A crash, a sanitizer report, a leak, a
# failed check, a hang or too much memory fails the target and leaves the
# input in DIR/artifacts/.  The last line counts targets the way CTest
# counts tests ("N% tests passed, F tests failed out of T"), so that
# .ci/run adds them up; exits non-zero if any target failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
all_targets=(expr duration signames progress cli json export utf8)
seconds=20
build_dir=""
jobs=$(nproc 2>/dev/null || echo 2)
targets=()

usage() {
  sed -n '2,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

while (($# > 0)); do
  case "$1" in
    --seconds)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    --build-dir)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      build_dir=$2; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --jobs|-j)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      jobs=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *)
      if [[ " ${all_targets[*]} " != *" $1 "* ]]; then
        echo "fuzz.sh: unknown target '$1' (${all_targets[*]})" >&2
        exit 2
      fi
      targets+=("$1"); shift ;;
  esac
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || {
  echo "fuzz.sh: --seconds takes a whole number > 0" >&2
  exit 2
}
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")
build_dir=${build_dir:-build-fuzz}
[[ "$build_dir" = /* ]] || build_dir="$root/$build_dir"

bash "$root/scripts/deps.sh" fuzz

echo "fuzz.sh: build dir $build_dir, ${seconds} s per target"
# The fuzzers need clang: a folder configured with another compiler is
# refused, never deleted (it may be someone's main build).
if [[ -f "$build_dir/CMakeCache.txt" ]] &&
  ! grep -q '^CMAKE_C_COMPILER:[A-Z]*=.*clang' "$build_dir/CMakeCache.txt"; then
  echo "fuzz.sh: $build_dir was configured with another compiler than" \
    "clang; remove it or give another --build-dir" >&2
  exit 2
fi
CC=clang cmake -S "$root" -B "$build_dir" -DCX_BUILD_FUZZERS=ON \
  -DCX_BUILD_TESTS=OFF -DCX_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build_dir" -j "$jobs" --target cx_fuzzers

# Reports fail the run (the fuzzers are built with -fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=()
for t in "${targets[@]}"; do
  corpus="$build_dir/corpus/$t"
  log="$build_dir/fuzz-$t.log"
  mkdir -p "$corpus" "$build_dir/artifacts"
  opts=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560
    -max_len=8192 -close_fd_mask=3
    -artifact_prefix="$build_dir/artifacts/$t-")
  [[ -f "$root/fuzz/$t.dict" ]] && opts+=(-dict="$root/fuzz/$t.dict")
  rc=0
  "$build_dir/fuzz/fuzz_$t" "${opts[@]}" "$corpus" "$root/fuzz/corpus/$t" \
    >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  if ((rc == 0)); then
    echo "fuzz: $t ok (${runs:-?} runs in ${seconds} s)"
  else
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc); the end of $log:"
    tail -n 60 "$log" | sed 's/^/  /'
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "  reproduce: $build_dir/fuzz/fuzz_$t ${artifact:-<the input>}"
  fi
done

total=${#targets[@]}
nfailed=${#failed[@]}
echo "$(((total - nfailed) * 100 / total))% tests passed," \
  "$nfailed tests failed out of $total"
((nfailed == 0)) || echo "fuzz: failed: ${failed[*]}"
((nfailed == 0))
