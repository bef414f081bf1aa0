#!/usr/bin/env bash
# scripts/demo.sh - build libcancelable (Release) and cancel a real workload.
#
# Usage: bash scripts/demo.sh [DIR] [TIMEOUT_SECONDS]   (default: /usr 3)
#
# Installs missing dependencies (scripts/deps.sh), builds the library and the
# examples in `build-release`, then runs examples/hash_files: it hashes every
# regular file under DIR inside an operation with a timeout, printing progress
# to stderr, and prints the operation's final context (id, name, status,
# reason, message, times, files hashed, partial result) on stdout.  /usr is
# large enough that the timeout cancels the walk: status "cancelled", reason
# "timeout".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-/usr}
timeout=${2:-3}
build_dir="$root/build-release"
jobs=$(nproc 2>/dev/null || echo 2)

bash "$root/scripts/deps.sh"

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

echo "demo: hashing the files under $dir with a ${timeout} s timeout" >&2
exec "$build_dir/examples/hash_files" "$dir" "$timeout"
