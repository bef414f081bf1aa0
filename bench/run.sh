#!/usr/bin/env bash
# bench/run.sh - builds libcancelable and the three benchmark binaries, runs
# every scenario of bench/SCENARIOS.md for every peer (ours, cxx,
# glib, go) interleaved, and prints the median `peer scenario value unit`
# lines on stdout followed by the table of ours / best peer against the
# targets of issues 8 and 19, and the spread of the noisy keys.  Everything else (build output, remarks, NA reasons) goes to
# stderr.  Not part of the test suite.
#
# Usage: bash bench/run.sh [--passes K] [--scenarios "S1 S4 ..."] [--build-only]
#   --passes K       passes per scenario (default 3); the peer order rotates
#                    every pass and the reported value is the median.  The
#                    noisy scenarios (S9, S9_1cpu, S10: wake-ups and timer
#                    tails, and X7: two threads, whose speed-up follows how
#                    the VM's two vCPUs share caches; all flipped between
#                    back-to-back runs) get at least 5 passes, and their keys are also
#                    printed with their spread (min, median, max).
#   --scenarios L    run only these scenarios (development aid; the default
#                    is all of them).
#   --build-only     install the tools and build the binaries, run nothing
#                    (bench/plots.sh builds this way before its sweep).
# Environment (smoke tests only): PEERS_REPS, PEERS_REP_MS, PEERS_VERBOSE=1
# are passed to the binaries (SCENARIOS.md §2.8).  BENCH_TIMEOUT (seconds,
# default 120) bounds each process.
set -u

PASSES=3
ONLY=""
BUILD_ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --passes) PASSES=${2:?--passes needs a number}; shift 2 ;;
    --passes=*) PASSES=${1#--passes=}; shift ;;
    --scenarios) ONLY=${2:?--scenarios needs a list}; shift 2 ;;
    --scenarios=*) ONLY=${1#--scenarios=}; shift ;;
    --build-only) BUILD_ONLY=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 64 ;;
  esac
done
case "$PASSES" in ''|*[!0-9]*|0) echo "run.sh: bad --passes" >&2; exit 64 ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-bench
BIN=$BUILD/bench
RAW=$BUILD/bench-results
TMO=${BENCH_TIMEOUT:-120}
PEERS="ours cxx glib go"
NOISY="S9 S9_1cpu S10 X7"
MIN_NOISY_PASSES=5
ALL_SCENARIOS="S1 S2 S3 S4 S5 S6 S7 S8 S9 S9_1cpu S10 X1 X2 X3 X4 X5 X6 X7 X8"
SCENARIOS=${ONLY:-$ALL_SCENARIOS}
T_START=$(date +%s)

note() { echo "# $*" >&2; }

# ---- 1. tools: install what is missing (Debian)
missing=()
command -v gcc >/dev/null || missing+=(gcc)
command -v g++ >/dev/null || missing+=(g++)
command -v cmake >/dev/null || missing+=(cmake)
command -v make >/dev/null || missing+=(make)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v taskset >/dev/null || missing+=(util-linux)
command -v timeout >/dev/null || missing+=(coreutils)
if ! pkg-config --exists gio-2.0 2>/dev/null; then missing+=(libglib2.0-dev); fi
command -v go >/dev/null || missing+=(golang-go)
if [ ${#missing[@]} -gt 0 ]; then
  note "installing: ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq "${missing[@]}"; } >&2 ||
    { echo "run.sh: apt-get install ${missing[*]} failed" >&2; exit 1; }
fi

# ---- 2. build
# The library: a CMake Release build at -O2 (CMake's Release default is
# -O3, so the flags are set explicitly).  The benchmark links the STATIC
# library: calls into it are then direct calls, as for a program that
# vendors or statically links libcancelable, with no PLT/GOT indirection per
# call; the C++ peer is header-only (fully inlinable) and GLib is a shared
# library, so this is the configuration our own numbers are meant for.  The
# shared library adds one PLT jump per call (about 0.3 ns on S1).
note "building libcancelable (Release, -O2, static) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DCX_BUILD_TESTS=OFF -DCX_BUILD_EXAMPLES=OFF >&2 || exit 1
cmake --build "$BUILD" --target cancelable_static -j 2 >&2 || exit 1

mkdir -p "$BIN"
CC=${CC:-gcc}
CXX=${CXX:-g++}
note "building the benchmark binaries ($($CC --version | head -1))"
# SCENARIOS.md §2.7: C: gcc -O2 -std=gnu11 -pthread; C++: g++ -O2
# -std=c++20 -pthread; ours: -O2, same compiler.  No LTO, no PGO.
"$CC" -O2 -std=gnu11 -pthread -I"$ROOT/include" -DCX_STATIC \
  "$ROOT/bench/ours.c" "$ROOT/bench/ours_scale.c" "$ROOT/bench/harness.c" \
  "$BUILD/libcancelable.a" -lm \
  -o "$BIN/bench_ours" >&2 || exit 1
# The C++ peer links the same harness, built as C.
"$CC" -O2 -std=gnu11 -pthread -c "$ROOT/bench/harness.c" \
  -o "$BIN/harness.o" >&2 || exit 1
"$CXX" -O2 -std=c++20 -pthread "$ROOT/bench/cxx.cpp" "$BIN/harness.o" -lm \
  -o "$BIN/bench_cxx" >&2 || exit 1
# shellcheck disable=SC2046
"$CC" -O2 -std=gnu11 -pthread "$ROOT/bench/glib.c" "$ROOT/bench/harness.c" \
  $(pkg-config --cflags --libs gio-2.0) -lm \
  -o "$BIN/bench_glib" >&2 || exit 1

# Go: `go build`, standard library only, no network (SCENARIOS.md §2.7).
note "building the Go peer ($(go version))"
(cd "$ROOT/bench/go" && GOFLAGS=-mod=mod GOPROXY=off \
  GOCACHE="$BUILD/gocache" go build -o "$BIN/bench_go" .) >&2 || exit 1
[ -n "$BUILD_ONLY" ] && exit 0

# ---- 3. run
note "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
note "libcancelable tree: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown) ($(git -C "$ROOT" log -1 --format='%h %s' 2>/dev/null))"
note "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
note "passes: $PASSES; PEERS_REPS=${PEERS_REPS:-default} PEERS_REP_MS=${PEERS_REP_MS:-default}"
rm -rf "$RAW"
mkdir -p "$RAW"
RECORDS=$RAW/records.txt
: >"$RECORDS"

# The required keys (and units) of each scenario: a failed process gives NA
# for each of them.
keys_of() {
  case "$1" in
    S1) echo "S1:ns/op" ;;
    S2) echo "S2:ns/op" ;;
    S3) echo "S3:ns/op" ;;
    S4) echo "S4.total:ms S4.per_child:ns/child" ;;
    S5) echo "S5.total:ms S5.per_level:ns/level" ;;
    S6) echo "S6:ns/op" ;;
    S7) echo "S7.total:us S7.per_callback:ns/callback" ;;
    S8) echo "S8.op:ns/op S8.peak_rss:MiB S8.base_rss:MiB" ;;
    S9) echo "S9.p50:us S9.p99:us" ;;
    S9_1cpu) echo "S9.p50_1cpu:us S9.p99_1cpu:us" ;;
    S10) echo "S10.p50:ms S10.p99:ms S10.max:ms" ;;
    X1) echo "X1.progress_nocb:ns/op" ;;
    X2) echo "X2.progress_cb3:ns/op" ;;
    X3) echo "X3.registry:ns/op X3.registry_delta:ns/op" ;;
    X4) echo "X4.op_enter_exit:ns/op" ;;
    X5) echo "X5.op_timeout_enter_exit:ns/op" ;;
    X6) echo "X6.progress_async:ns/op X6.progress_sync_nop:ns/op" ;;
    X7) echo "X7.child_ops_1t:ns/op X7.child_ops_2t:ns/op X7.speedup:x X7.poll_1t:ns/op X7.poll_2t:ns/op" ;;
    X8) echo "X8.bytes_per_op:B X8.registered_op:ns/op X8.query:ms X8.cancel_per_child:ns X8.progress_depth1:ns/op X8.progress_depth10000:ns/op X8.progress_depth_ratio:x" ;;
  esac
}

# Which peers run a scenario: our own X scenarios have no peer.
peers_of() {
  case "$1" in
    X*) echo ours ;;
    *) echo "$PEERS" ;;
  esac
}

# The peer order of pass @1: rotated by one every pass.
order_of() {
  local -a p
  read -r -a p <<<"$PEERS"
  local n=${#p[@]} i out=""
  for ((i = 0; i < n; i++)); do out+="${p[(($1 + i) % n)]} "; done
  echo "$out"
}

# run_one SIDX PEER SCENARIO PASS: one process; its lines go to RECORDS as
# "sidx peer pass key value unit".
run_one() {
  local sidx=$1 peer=$2 scen=$3 pass=$4 rc
  local out=$RAW/$peer.$scen.$pass.out err=$RAW/$peer.$scen.$pass.err
  local -a cmd=("$BIN/bench_$peer" "$scen")
  [ "$scen" = S9_1cpu ] && cmd=(taskset -c 0 "${cmd[@]}")
  timeout --signal=KILL "$TMO" "${cmd[@]}" >"$out" 2>"$err"
  rc=$?
  sed "s/^/[$peer $scen pass $pass] /" "$err" >&2
  if [ $rc -ne 0 ]; then
    note "$peer $scen pass $pass FAILED: exit status $rc$([ $rc -ge 128 ] && echo " (signal $((rc - 128)))")"
    local k
    for k in $(keys_of "$scen"); do
      echo "$sidx $peer $pass ${k%%:*} NA ${k#*:}" >>"$RECORDS"
    done
    return 1
  fi
  awk -v s="$sidx" -v p="$pass" -v peer="$peer" \
    'NF == 4 && $1 == peer { print s, $1, p, $2, $3, $4 }' "$out" >>"$RECORDS"
  return 0
}

# S5 failed (crash or timeout): bisect the deepest chain that survives.
s5_bisect() {
  local peer=$1 sidx=$2 lo=0 hi=10000 mid
  while [ $((hi - lo)) -gt 50 ]; do
    mid=$(((lo + hi) / 2))
    if timeout --signal=KILL "$TMO" "$BIN/bench_$peer" S5probe "$mid" \
      >/dev/null 2>&1; then
      lo=$mid
    else
      hi=$mid
    fi
  done
  note "$peer S5: deepest chain that survives: $lo (fails at $hi)"
  echo "$sidx $peer 0 S5.max_depth $lo levels" >>"$RECORDS"
}

sidx=0
for scen in $SCENARIOS; do
  sidx=$((sidx + 1))
  s5_failed=""
  npasses=$PASSES
  case " $NOISY " in
    *" $scen "*) ((npasses < MIN_NOISY_PASSES)) && npasses=$MIN_NOISY_PASSES ;;
  esac
  for ((pass = 0; pass < npasses; pass++)); do
    for peer in $(order_of "$pass"); do
      case " $(peers_of "$scen") " in *" $peer "*) ;; *) continue ;; esac
      if ! run_one "$sidx" "$peer" "$scen" "$pass" && [ "$scen" = S5 ]; then
        case " $s5_failed " in *" $peer "*) ;; *) s5_failed+=" $peer" ;; esac
      fi
    done
  done
  for peer in $s5_failed; do s5_bisect "$peer" "$sidx"; done
  note "$scen done after $(($(date +%s) - T_START)) s"
done
note "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
note "total time: $(($(date +%s) - T_START)) s"

# ---- 4. medians over the passes, in scenario order then peer order
MEDIANS=$RAW/medians.txt
awk -v peers="$PEERS" '
  function fmt(v,   a, d) {
    a = v < 0 ? -v : v
    d = a < 10 ? 3 : a < 100 ? 2 : a < 1000 ? 1 : 0
    return sprintf("%." d "f", v)
  }
  BEGIN { np = split(peers, pl, " "); for (i = 1; i <= np; i++) pidx[pl[i]] = i }
  {
    id = $2 SUBSEP $4
    if (!(id in seen)) {
      seen[id] = ++nseen; sid[id] = $1; peer[id] = $2; key[id] = $4
      unit[id] = $6; n[id] = 0; na[id] = 0
    }
    if ($5 == "NA") na[id] = 1; else vals[id, ++n[id]] = $5 + 0
  }
  END {
    for (id in seen) {
      if (na[id] || n[id] == 0) v = "NA"
      else {
        m = n[id]
        for (i = 1; i <= m; i++) s[i] = vals[id, i]
        for (i = 2; i <= m; i++) {          # insertion sort
          x = s[i]; j = i - 1
          while (j >= 1 && s[j] > x) { s[j + 1] = s[j]; j-- }
          s[j + 1] = x
        }
        v = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
        v = fmt(v)
      }
      printf "%d %d %d %s %s %s %s\n", sid[id], pidx[peer[id]], seen[id], \
        peer[id], key[id], v, unit[id]
    }
  }' "$RECORDS" | sort -n -k1,1 -k2,2 -k3,3 | cut -d' ' -f4- >"$MEDIANS"
cat "$MEDIANS"

# ---- 5. the table: ours / best peer against the targets of issue 8
echo
awk '
  { v[$1, $2] = $3; u[$2] = $4 }
  function num(x) { return x != "" && x != "NA" }
  function fmt(x,   a, d) {
    if (!num(x)) return "NA"
    a = x < 0 ? -x : x
    d = a < 10 ? 3 : a < 100 ? 2 : a < 1000 ? 1 : 0
    return sprintf("%." d "f", x)
  }
  # bytes per armed timeout: (peak_rss - base_rss) / 100 000
  function bpt(p) {
    if (!num(v[p, "S8.peak_rss"]) || !num(v[p, "S8.base_rss"])) return "NA"
    return (v[p, "S8.peak_rss"] - v[p, "S8.base_rss"]) * 1048576 / 100000
  }
  # a key that must reach at least @atleast (a speed-up)
  function low(k, unit, target, atleast,   o) {
    o = v["ours", k]
    printf "%-26s %12s %-5s %12s %-5s %7s  %-30s %s\n", k, fmt(o), unit, \
      "-", "-", "-", target, (!num(o) ? "FAIL" : (o + 0 >= atleast ? "pass" : "FAIL"))
  }
  function row(k, unit, target, maxratio, absmax, vsonly,
               o, c, g, gg, best, bname, ratio, ok, r) {
    o = v["ours", k]; c = v["cxx", k]; g = v["glib", k]; gg = v["go", k]
    if (k == "S8.bytes_per_timeout") {
      o = bpt("ours"); c = bpt("cxx"); g = bpt("glib"); gg = bpt("go")
    }
    best = ""; bname = "-"
    if (vsonly == "cxx") { if (num(c)) { best = c; bname = "cxx" } }
    else {
      if (num(c)) { best = c; bname = "cxx" }
      if (num(g) && (best == "" || g + 0 < best + 0)) { best = g; bname = "glib" }
      if (num(gg) && (best == "" || gg + 0 < best + 0)) { best = gg; bname = "go" }
    }
    ratio = (num(o) && best != "" && best + 0 > 0) ? sprintf("%.2f", o / best) : "-"
    if (!num(o)) ok = "FAIL"
    else {
      ok = "pass"
      if (maxratio != "" && ratio != "-" && ratio + 0 > maxratio + 0) ok = "FAIL"
      if (absmax != "" && o + 0 > absmax + 0) ok = "FAIL"
      if (maxratio == "" && absmax == "") ok = "info"
    }
    printf "%-26s %12s %-5s %12s %-5s %7s  %-30s %s\n", k, fmt(o), unit, \
      (best == "" ? "NA" : fmt(best)), bname, ratio, target, ok
  }
  END {
    printf "%-26s %12s %-5s %12s %-5s %7s  %-30s %s\n", "key", "ours", "", \
      "best peer", "", "ratio", "target", "result"
    row("S1", "ns", "<= 1.2x cxx", 1.2, "", "cxx")
    row("S2", "ns", "<= 1.0x best", 1.0, "")
    row("S3", "ns", "<= 1.0x best", 1.0, "")
    row("S4.total", "ms", "<= 1.0x best", 1.0, "")
    row("S4.per_child", "ns", "<= 1.0x best, <= 60 ns", 1.0, 60)
    row("S5.total", "ms", "<= 1.0x best", 1.0, "")
    row("S5.per_level", "ns", "<= 1.0x best, <= 100 ns", 1.0, 100)
    row("S6", "ns", "<= 1.0x best", 1.0, "")
    row("S7.total", "us", "<= 1.0x best", 1.0, "")
    row("S7.per_callback", "ns", "<= 1.0x best, <= 20 ns", 1.0, 20)
    row("S8.op", "ns", "<= 1.0x best", 1.0, "")
    row("S8.peak_rss", "MiB", "<= 1.0x best", 1.0, "")
    row("S8.bytes_per_timeout", "B", "<= 1.0x best, <= 100 B", 1.0, 100)
    row("S9.p50", "us", "<= 1.0x best", 1.0, "")
    row("S9.p99", "us", "<= 1.0x best", 1.0, "")
    row("S9.p50_1cpu", "us", "<= 1.0x best", 1.0, "")
    row("S9.p99_1cpu", "us", "<= 1.0x best", 1.0, "")
    row("S10.p50", "ms", "<= 1.0x best", 1.0, "")
    row("S10.p99", "ms", "<= 1.0x best", 1.0, "")
    row("S10.max", "ms", "<= 1.0x best", 1.0, "")
    # never early: the earliest lateness must not be negative
    o = v["ours", "S10.min"]
    printf "%-26s %12s %-5s %12s %-5s %7s  %-30s %s\n", "S10.min", fmt(o), "ms", \
      "-", "-", "-", ">= 0 (never fires early)", \
      (!num(o) ? "FAIL" : (o + 0 >= 0 ? "pass" : "FAIL"))
    row("X1.progress_nocb", "ns", "<= 5 ns", "", 5)
    row("X2.progress_cb3", "ns", "-", "", "")
    row("X3.registry", "ns", "-", "", "")
    row("X3.registry_delta", "ns", "<= 1000 ns (100 000 live)", "", 1000)
    row("X4.op_enter_exit", "ns", "<= 60 ns (issue 19)", "", 60)
    row("X5.op_timeout_enter_exit", "ns", "<= 100 ns (issue 19)", "", 100)
    row("X6.progress_async", "ns", "-", "", "")
    row("X6.progress_sync_nop", "ns", "-", "", "")
    row("X7.child_ops_1t", "ns", "-", "", "")
    row("X7.child_ops_2t", "ns", "-", "", "")
    low("X7.speedup", "x", ">= 1.6x (issue 19)", 1.6)
    row("X7.poll_1t", "ns", "-", "", "")
    row("X7.poll_2t", "ns", "<= X7.poll_1t x 1.1", "", \
        num(v["ours", "X7.poll_1t"]) ? v["ours", "X7.poll_1t"] * 1.1 : "")
    row("X8.bytes_per_op", "B", "<= 256 B (10^6 live)", "", 256)
    row("X8.registered_op", "ns", "<= 150 ns (10^6 live)", "", 150)
    row("X8.query", "ms", "<= 200 ms (10^6 live)", "", 200)
    row("X8.cancel_per_child", "ns", "<= 50 ns (10^6 children)", "", 50)
    row("X8.progress_depth_ratio", "x", "<= 1.2x (depth 10^4 / 1)", "", 1.2)
    split("ours cxx glib go", pl, " ")
    for (i = 1; i <= 4; i++)
      if (num(v[pl[i], "S5.max_depth"]))
        printf "%-26s %s: %s levels (S5 crashed or timed out at depth 10 000)\n", \
          "S5.max_depth", pl[i], v[pl[i], "S5.max_depth"]
  }' "$MEDIANS"

# ---- 6. the spread of the noisy keys (issue 19): min, median and max over
# the passes of each peer, so that a verdict within the spread reads as one.
echo
echo "spread over the passes (min / median / max) of the noisy keys:"
awk -v noisy="$NOISY" '
  BEGIN { n = split(noisy, s, " "); for (i = 1; i <= n; i++) want[s[i]] = 1 }
  function fmt(x,   a, d) {
    a = x < 0 ? -x : x
    d = a < 10 ? 3 : a < 100 ? 2 : a < 1000 ? 1 : 0
    return sprintf("%." d "f", x)
  }
  {
    scen = $4; sub(/\..*$/, "", scen)
    if ($4 ~ /_1cpu$/) scen = scen "_1cpu"
    if (!(scen in want) || $5 == "NA") next
    id = $4 " " $2
    if (!(id in cnt)) { order[++nid] = id; unit[id] = $6 }
    vals[id, ++cnt[id]] = $5 + 0
  }
  END {
    for (k = 1; k <= nid; k++) {
      id = order[k]; m = cnt[id]
      for (i = 1; i <= m; i++) x[i] = vals[id, i]
      for (i = 2; i <= m; i++) {
        y = x[i]; j = i - 1
        while (j >= 1 && x[j] > y) { x[j + 1] = x[j]; j-- }
        x[j + 1] = y
      }
      med = (m % 2) ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
      split(id, kp, " ")
      printf "%-16s %-5s %10s %10s %10s %s (%d passes)\n", kp[1], kp[2], \
        fmt(x[1]), fmt(med), fmt(x[m]), unit[id], m
    }
  }' "$RECORDS" | sort -k1,1 -s
