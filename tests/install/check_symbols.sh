#!/usr/bin/env bash
# tests/install/check_symbols.sh - the exported ABI is exactly cancelable.sym.
#
# Usage: check_symbols.sh exported LIBRARY SYMFILE
#          the functions libcancelable.so exports (nm -D --defined-only, type
#          T) are exactly those listed in SYMFILE: nothing internal leaks,
#          nothing declared is missing
#        check_symbols.sh declared INCLUDE_DIR SYMFILE
#          SYMFILE lists exactly the functions declared with CX_EXPORT in
#          INCLUDE_DIR (regenerate it with scripts/gen-sym.sh)
set -euo pipefail

if (($# != 3)); then
  sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
fi
mode=$1 input=$2 symfile=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

LC_ALL=C sort -u "$symfile" >"$tmp/expected"
case "$mode" in
  exported)
    nm -D --defined-only "$input" |
      awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' |
      grep -v -x -E '_init|_fini' |
      LC_ALL=C sort -u >"$tmp/actual" || true
    what="exported by $(basename "$input")"
    ;;
  declared)
    bash "$here/../../scripts/gen-sym.sh" "$input" >"$tmp/actual"
    what="declared with CX_EXPORT in $input"
    ;;
  *)
    echo "check_symbols.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac

if ! diff -u --label "$symfile" --label "$what" \
  "$tmp/expected" "$tmp/actual"; then
  echo "FAIL: the symbols $what differ from $symfile" \
    "(- only in the file, + only in the library/headers)" >&2
  exit 1
fi
echo "ok: $(wc -l <"$tmp/actual") symbols $what match $symfile"
