#!/usr/bin/env bash
# scripts/gen-sym.sh - print the public symbols declared in include/ with
# CX_EXPORT, one per line, sorted (the content of cancelable.sym).
#
# Usage: bash scripts/gen-sym.sh [INCLUDE_DIR] > cancelable.sym
#
# The test /install/symbols diffs this list, and the symbols the shared
# library really exports (nm -D), against cancelable.sym: when you add a
# public function, regenerate the file and commit it with the function.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
inc=${1:-$root/include}

# Every declaration starts a line with `CX_EXPORT <type> [*]name(`.
grep -h -E '^[[:space:]]*CX_EXPORT[[:space:]]' \
  "$inc/cancelable.h" "$inc"/cancelable/*.h |
  grep -o '^[^(]*(' |
  sed -E 's/.*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\($/\1/' |
  LC_ALL=C sort -u
