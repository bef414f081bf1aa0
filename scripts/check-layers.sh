#!/usr/bin/env bash
# scripts/check-layers.sh - check that the library's folders depend on each
# other one way only, as docs/internals.md draws them:
#
#   runtime  <  base  <  token  <  sources  <  op
#            <  progress, registry, events, wait  <  run
#
# A file under src/DIR may include the internal headers ("DIR/name.h") of
# its own folder and of the folders listed for DIR below; util/ (helpers of
# their own, with no library types) may be included from anywhere in src/
# and includes nothing of src/.  The adapters (adapters/NAME/) are clients
# of the public API: they may include util/ headers ("cxu_*.h") and their
# own, nothing of src/.  Public headers (<cancelable/...>) are the API and
# may be included anywhere.  Only #include lines are read: calls
# through the public API are not checked.
#
# Usage: bash scripts/check-layers.sh [ROOT]
#   ROOT: the source tree to check (default: this one).
#   Exits 1 and names each include that points the wrong way.
set -euo pipefail

root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# What each folder may include, besides itself and util/.
declare -A allowed=(
  [runtime]=""
  [base]="runtime"
  [token]="base runtime"
  [sources]="token base runtime"
  [op]="sources token base runtime"
  [progress]="op sources token base runtime"
  [registry]="op sources token base runtime"
  [events]="op sources token base runtime"
  [wait]="op sources token base runtime"
  [run]="wait op sources token base runtime"
)

bad=0
check_file() {
  local file=$1 dir=$2 line target
  while IFS= read -r line; do
    target=${line#*\"}
    target=${target%%/*}
    [[ $line == *'"'*/*'"'* ]] || continue # "cx_config.h", same-folder
    if [[ $dir == util || $dir == adapter ]]; then
      echo "check-layers: ${file#"$root"/}: $dir includes $target/" >&2
      bad=1
      continue
    fi
    [[ $target == "$dir" || $target == util ]] && continue
    if [[ " ${allowed[$dir]} " != *" $target "* ]]; then
      echo "check-layers: ${file#"$root"/}: $dir/ must not include $target/" \
        "(${line#\#include })" >&2
      bad=1
    fi
  done < <(grep -E '^#[[:space:]]*include[[:space:]]+"' "$file" || true)
}

count=0
while IFS= read -r -d '' file; do
  rel=${file#"$root"/}
  if [[ $rel == util/* ]]; then
    dir=util
  elif [[ $rel == adapters/* ]]; then
    dir=adapter
  else
    dir=${rel#src/}
    dir=${dir%%/*}
    if [[ -z ${allowed[$dir]+set} ]]; then
      echo "check-layers: $rel: folder src/$dir/ has no place in the layers" \
        "(add it to scripts/check-layers.sh and docs/internals.md)" >&2
      bad=1
      continue
    fi
  fi
  check_file "$file" "$dir"
  count=$((count + 1))
done < <(find "$root/src" "$root/util" "$root/adapters" -type f \( -name '*.c' -o -name '*.h' \) \
  -print0 | sort -z)

if ((bad)); then
  echo "check-layers: FAILED" >&2
  exit 1
fi
echo "check-layers: $count files, every include points down"
