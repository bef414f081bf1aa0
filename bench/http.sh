#!/usr/bin/env bash
# bench/http.sh - builds libcancelable and libcancelable-http (CMake
# Release, -O2, in build-bench/ as bench/run.sh does) and bench/http.c,
# runs its scenarios H1..H4 (the event stream and the HTTP adapter, issue
# 15 §8; see the top of bench/http.c) in one process each, K passes, and
# prints the median of every `ours KEY VALUE UNIT` line on stdout.
# Everything else (build output, machine, remarks) goes to stderr.  Needs
# libmicrohttpd (apt-get install libmicrohttpd-dev).  Not part of the test
# suite.
#
# Usage: bash bench/http.sh [--passes K] [--scenarios "H1 H4"]
# Environment: PEERS_REPS, PEERS_REP_MS (H1 only; smoke tests), and
# BENCH_TIMEOUT (seconds per process, default 120).
set -u

PASSES=3
SCENARIOS="H1 H2 H3 H4"
while [ $# -gt 0 ]; do
  case "$1" in
    --passes) PASSES=${2:?--passes needs a number}; shift 2 ;;
    --passes=*) PASSES=${1#--passes=}; shift ;;
    --scenarios) SCENARIOS=${2:?--scenarios needs a list}; shift 2 ;;
    --scenarios=*) SCENARIOS=${1#--scenarios=}; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "http.sh: unknown argument '$1'" >&2; exit 64 ;;
  esac
done
case "$PASSES" in ''|*[!0-9]*|0) echo "http.sh: bad --passes" >&2; exit 64 ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-bench
BIN=$BUILD/bench
RAW=$BUILD/bench-http-results
TMO=${BENCH_TIMEOUT:-120}
note() { echo "# $*" >&2; }

if ! pkg-config --exists libmicrohttpd 2>/dev/null; then
  echo "http.sh: libmicrohttpd not found (apt-get install libmicrohttpd-dev)" >&2
  exit 1
fi

# The libraries: shared (the adapter is a shared library on the shared
# libcancelable), Release at -O2 as in bench/run.sh.
note "building libcancelable and libcancelable-http (Release, -O2) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DCX_BUILD_TESTS=OFF -DCX_BUILD_EXAMPLES=OFF -DCX_BUILD_ADAPTERS=ON >&2 ||
  exit 1
cmake --build "$BUILD" --target cancelable-http -j 2 >&2 || exit 1
[ -f "$BUILD/adapters/http/libcancelable-http.so" ] || {
  echo "http.sh: libcancelable-http was not built (see above)" >&2
  exit 1
}
mkdir -p "$BIN"
CC=${CC:-gcc}
"$CC" -O2 -std=gnu11 -pthread -I"$ROOT/include" \
  -I"$ROOT/adapters/http/include" "$ROOT/bench/http.c" "$ROOT/bench/harness.c" \
  -L"$BUILD" -L"$BUILD/adapters/http" -lcancelable-http -lcancelable -lm \
  -Wl,-rpath,"$BUILD:$BUILD/adapters/http" -o "$BIN/bench_http" >&2 || exit 1

note "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r), libmicrohttpd $(pkg-config --modversion libmicrohttpd)"
note "libcancelable tree: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
note "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$RAW"
mkdir -p "$RAW"
RECORDS=$RAW/records.txt
: >"$RECORDS"
for ((pass = 0; pass < PASSES; pass++)); do
  for scen in $SCENARIOS; do
    out=$RAW/$scen.$pass.out
    timeout --signal=KILL "$TMO" "$BIN/bench_http" "$scen" >"$out" \
      2> >(sed "s/^/[$scen pass $pass] /" >&2)
    rc=$?
    [ $rc -eq 0 ] || note "$scen pass $pass FAILED: exit status $rc"
    awk -v p="$pass" 'NF == 4 && $1 == "ours" { print NR, p, $2, $3, $4 }' \
      "$out" >>"$RECORDS"
  done
done
note "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# The median over the passes of each key, in the order first seen.
awk '
  function fmt(v,   a, d) {
    a = v < 0 ? -v : v
    d = a < 10 ? 3 : a < 100 ? 2 : a < 1000 ? 1 : 0
    return sprintf("%." d "f", v)
  }
  {
    if (!($3 in n)) { order[++keys] = $3; unit[$3] = $5 }
    vals[$3, ++n[$3]] = $4 + 0
  }
  END {
    for (k = 1; k <= keys; k++) {
      key = order[k]; m = n[key]
      for (i = 1; i <= m; i++) s[i] = vals[key, i]
      for (i = 2; i <= m; i++) {
        x = s[i]; j = i - 1
        while (j >= 1 && s[j] > x) { s[j + 1] = s[j]; j-- }
        s[j + 1] = x
      }
      v = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
      printf "ours %s %s %s\n", key, fmt(v), unit[key]
    }
  }' "$RECORDS"
