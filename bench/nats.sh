#!/usr/bin/env bash
# bench/nats.sh - cancel fan-out over NATS (issue 16 §4): one nats-server
# (127.0.0.1, a free port, JetStream in a temporary folder) and N worker
# processes of bench/nats_fanout.c holding OPS live ops in all; one cancel
# by pattern reaches them all.  Prints, per N, the latency from the cancel
# call to each op's cancel (p50, p99, max: the fan-out), and the count;
# then the events per second that one subscriber of every node's events
# (cancelable.evt.>) received: the entered events while the workers start
# their ops, and the cancelled and exited ones after the cancel (counted
# from the cancel call to the last one received).
# Builds bench/nats_fanout.c against build-bench/ (CMake Release, as
# bench/run.sh does; configured here when missing).  Not part of the test
# suite.  Needs nats-server and libnats-dev.
#
# Usage: bash bench/nats.sh [--workers "1 10 50"] [--ops 10000]
set -u
WORKERS="1 10 50"
OPS=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS=$2; shift 2 ;;
    --ops) OPS=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "nats.sh: unknown argument '$1'" >&2; exit 64 ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
SERVER=$(PATH="$PATH:/usr/sbin" command -v nats-server) ||
  { echo "nats.sh: nats-server not installed" >&2; exit 1; }
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
fi
cmake --build "$BUILD" -j2 --target cancelable cancelable-nats >/dev/null ||
  exit 1
BIN=$BUILD/bench/nats_fanout
mkdir -p "$BUILD/bench"
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/include" $(pkg-config --cflags libnats) \
  -I"$ROOT/adapters/nats/include" "$ROOT/bench/nats_fanout.c" -o "$BIN" \
  -L"$BUILD" -L"$BUILD/adapters/nats" -Wl,-rpath,"$BUILD:$BUILD/adapters/nats" \
  -lcancelable-nats -lcancelable $(pkg-config --libs libnats) || exit 1

TMP=$(mktemp -d)
trap 'kill $SPID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
for n in $WORKERS; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$TMP/js"
  "$SERVER" -a 127.0.0.1 -p "$port" -js -sd "$TMP/js" >"$TMP/server.log" 2>&1 &
  SPID=$!
  url="nats://127.0.0.1:$port"
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
  per=$((OPS / n))
  "$BIN" events "$url" $((2 * per * n)) >"$TMP/events.out" &
  epid=$!
  until grep -q ready "$TMP/events.out" 2>/dev/null; do sleep 0.05; done
  pids=()
  for i in $(seq "$n"); do
    "$BIN" worker "$url" "w$i" "$per" >"$TMP/w$i.out" &
    pids+=($!)
  done
  for i in $(seq "$n"); do
    until grep -q ready "$TMP/w$i.out" 2>/dev/null; do sleep 0.05; done
  done
  "$BIN" cancel "$url" 2 >"$TMP/ctl.out"
  wait "${pids[@]}"
  t0=$(awk '$1 == "t0" { print $2 }' "$TMP/ctl.out")
  cat "$TMP"/w*.out | awk -v t0="$t0" '$1 == "c" { print ($2 - t0) * 1000 }' |
    sort -n | awk -v n="$n" -v answers="$(grep total "$TMP/ctl.out")" '
      { v[NR] = $1 }
      END {
        p50 = v[int(NR * 0.50 + 0.5)]; p99 = v[int(NR * 0.99 + 0.5)]
        printf "workers %d ops %d: op cancel latency p50 %.1f ms p99 %.1f ms max %.1f ms (%s)\n", n, NR, p50, p99, v[NR], answers
      }'
  wait "$epid"
  awk -v t0="$t0" -v n="$n" '
    function rate(c, a, b) { return b > a ? c / (b - a) : 0 }
    $1 == "entered" { e = $2; ea = $3; eb = $4 }
    $1 == "after" { c = $2; cb = $4 }
    $1 == "lost" { lost = $2 }
    END {
      printf "workers %d events: entered %d at %.0f/s; cancelled+exited %d at %.0f/s (from the cancel call); lost (gap) %d\n", n, e, rate(e, ea, eb), c, rate(c, t0, cb), lost
    }' "$TMP/events.out"
  kill "$SPID"; wait "$SPID" 2>/dev/null
done
