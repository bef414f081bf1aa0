#!/usr/bin/env bash
# scripts/demo.sh - build everything (Release) and run the tool's main job on
# a real workload.
#
# Usage: bash scripts/demo.sh [DIR] [TIMEOUT]   (default: /usr 3s)
#
# Installs missing build dependencies (scripts/deps.sh build: no test
# tools), builds the library, the `cancelable` tool and the examples in
# `build-release`, then runs
#   cancelable run --progress --timeout TIMEOUT --report-file /dev/stdout
# on a shell pipeline that hashes every regular file under DIR and reports
# each file as a progress line.  /usr is large enough that the timeout
# stops the command's whole process group: the JSON report printed at the
# end shows status "cancelled", reason "timeout", the command's fate and its
# last progress.  On a terminal a live status line shows elapsed time, time
# left and the last progress while it runs; elsewhere (a log, CI) a plain
# line a second shows the same.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-/usr}
timeout=${2:-3s}
build_dir="$root/build-release"
jobs=$(nproc 2>/dev/null || echo 2)

bash "$root/scripts/deps.sh" build

# Build quietly; show the build's output only when it fails.
mkdir -p "$build_dir"
log="$build_dir/demo-build.log"
echo "demo: building (Release) in $build_dir" >&2
if ! { cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
         -DCX_BUILD_TESTS=OFF -DCX_BUILD_EXAMPLES=ON &&
       cmake --build "$build_dir" -j "$jobs"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "demo: build failed (log: $log)" >&2
  exit 1
fi

# The workload: hash every file, one progress line per file on the
# descriptor the tool passes in $CANCELABLE_PROGRESS_FD.
# shellcheck disable=SC2016  # expanded by the inner sh, not here
workload='find "$1" -type f 2>/dev/null | {
  n=0
  while IFS= read -r f; do
    n=$((n + 1))
    sha256sum -- "$f" >/dev/null 2>&1
    echo "$n hashed $f" >&"$CANCELABLE_PROGRESS_FD"
  done
}'

echo "demo: hashing the files under $dir, stopped by a $timeout timeout" >&2
status=0
"$build_dir/tools/cancelable/cancelable" run --progress --timeout "$timeout" \
  --name "hash $dir" --report-file /dev/stdout \
  -- sh -c "$workload" sh "$dir" || status=$?

case $status in
  0) echo "demo: the command finished before the timeout" >&2 ;;
  124) echo "demo: cancelled by the timeout, as expected (exit 124)" >&2 ;;
  *)
    echo "demo: unexpected exit status $status" >&2
    exit "$status"
    ;;
esac
