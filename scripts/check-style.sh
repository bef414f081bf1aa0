#!/usr/bin/env bash
# scripts/check-style.sh - check (or with --fix, apply) .clang-format on the
# project's C files.
#
# Usage: bash scripts/check-style.sh [--fix] [FILE...]
#   Without FILEs: every *.c and *.h under include/, src/, tests/, examples/,
#   adapters/,
#   tools/, util/, bench/ and fuzz/.
#   Exits non-zero when a file is not formatted (check mode).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fix=0
if [[ ${1:-} == --fix ]]; then
  fix=1
  shift
fi
if ! command -v clang-format >/dev/null 2>&1; then
  echo "check-style: clang-format is not installed" \
    "(apt-get install clang-format)" >&2
  exit 1
fi

files=("$@")
if ((${#files[@]} == 0)); then
  while IFS= read -r -d '' f; do files+=("$f"); done < <(
    cd "$root" &&
      find include src tests examples tools util bench fuzz adapters -type f \( -name '*.c' -o -name '*.h' \) \
        -print0 2>/dev/null | sort -z)
  cd "$root"
fi

if ((fix)); then
  clang-format -i --style=file "${files[@]}"
else
  clang-format --dry-run --Werror --style=file "${files[@]}"
  echo "check-style: ${#files[@]} files formatted"
fi
