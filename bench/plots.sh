#!/usr/bin/env bash
# bench/plots.sh - cost against scale (issue 19, item 6): runs the scalable
# scenarios of bench/SCENARIOS.md at several sizes for every peer
# (ours, cxx, glib, go), takes the median over the passes, writes the data
# files and draws one plot per axis with gnuplot (log-scale x, one line per
# peer) into docs/bench/.  Not part of the test suite.
#
# Usage: bash bench/plots.sh [--passes K] [--axes "live children depth
#                            callbacks"] [--out DIR]
#   --passes K   passes per (scenario, size) (default 3); the peer order
#                rotates every pass and the plotted value is the median.
#   --axes L     only these axes (default all four):
#                  live       S8 with N = 10^3..10^6 timeouts armed: ns per
#                             timeout scope created and destroyed, for ours
#                             also the op form (S8.op_scope) and X3 (a
#                             registered op with N registered ops live); and
#                             bytes per armed timeout
#                  children   S4 with N = 10^3..10^6 children: ns per child
#                  depth      S5 with D = 1..10^5 levels: ns per level (a
#                             peer whose deep chain crashes is bisected for
#                             its deepest chain, as run.sh does)
#                  callbacks  S7 with N = 1..10^4 callbacks: ns per callback
#   --out DIR    where the PNGs go (default docs/bench).
# Environment: PEERS_REPS (default 3 here) and PEERS_REP_MS (default 100
# here) per process, smaller than an official run's 5 x 200 ms so that the
# sweep takes minutes; BENCH_TIMEOUT (seconds, default 60) bounds each
# process.  Each process gets its size as BENCH_SCALE=N (harness.c's
# bench_scale(); without it every binary runs the sizes of SCENARIOS.md).
# Data: build-bench/plots/*.dat (one column per line of a plot),
# records.txt (every process's lines), medians.txt, tables.md (the
# medians as markdown tables), and the raw outputs.
set -u

PASSES=3
AXES="live children depth callbacks"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/docs/bench
while [ $# -gt 0 ]; do
  case "$1" in
    --passes) PASSES=${2:?--passes needs a number}; shift 2 ;;
    --passes=*) PASSES=${1#--passes=}; shift ;;
    --axes) AXES=${2:?--axes needs a list}; shift 2 ;;
    --axes=*) AXES=${1#--axes=}; shift ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --out=*) OUT=${1#--out=}; shift ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "plots.sh: unknown argument '$1'" >&2; exit 64 ;;
  esac
done
case "$PASSES" in ''|*[!0-9]*|0) echo "plots.sh: bad --passes" >&2; exit 64 ;; esac

BUILD=$ROOT/build-bench
BIN=$BUILD/bench
DATA=$BUILD/plots
RAW=$DATA/raw
TMO=${BENCH_TIMEOUT:-60}
export PEERS_REPS=${PEERS_REPS:-3}
export PEERS_REP_MS=${PEERS_REP_MS:-100}
PEERS="ours cxx glib go"
LIVE_SIZES="1000 10000 100000 1000000"
CHILD_SIZES="1000 10000 100000 1000000"
DEPTH_SIZES="1 10 100 1000 10000 100000"
CALLBACK_SIZES="1 10 100 1000 10000"
T_START=$(date +%s)

note() { echo "# $*" >&2; }

# ---- 1. tools and binaries: run.sh installs and builds; gnuplot is ours
bash "$ROOT/bench/run.sh" --build-only || exit 1
if ! command -v gnuplot >/dev/null; then
  note "installing: gnuplot-nox"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq gnuplot-nox; } >&2 ||
    { echo "plots.sh: apt-get install gnuplot-nox failed" >&2; exit 1; }
fi

# ---- 2. the sweep
MACHINE="$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
TREE=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
note "machine: $MACHINE"
note "libcancelable tree: $TREE ($(git -C "$ROOT" log -1 --format='%h %s' 2>/dev/null))"
note "load average at start: $LOAD_START"
note "passes: $PASSES; PEERS_REPS=$PEERS_REPS PEERS_REP_MS=$PEERS_REP_MS; axes: $AXES"
rm -rf "$DATA"
mkdir -p "$RAW" "$OUT"
RECORDS=$DATA/records.txt
: >"$RECORDS"

# The peer order of pass @1: rotated by one every pass (as run.sh).
order_of() {
  local -a p
  read -r -a p <<<"$1"
  local n=${#p[@]} i out=""
  for ((i = 0; i < n; i++)); do out+="${p[(($2 + i) % n)]} "; done
  echo "$out"
}

# run_one PEER SCENARIO SIZE PASS: one process with BENCH_SCALE=SIZE; its
# lines go to RECORDS as "peer size pass key value unit", plus the derived
# S8.bytes (bytes per armed timeout, (peak - base) / SIZE) for S8.  Returns
# the process's exit status.
run_one() {
  local peer=$1 scen=$2 size=$3 pass=$4 rc
  local out=$RAW/$peer.$scen.$size.$pass.out err=$RAW/$peer.$scen.$size.$pass.err
  BENCH_SCALE=$size timeout --signal=KILL "$TMO" "$BIN/bench_$peer" "$scen" \
    >"$out" 2>"$err"
  rc=$?
  if [ $rc -ne 0 ]; then
    sed "s/^/[$peer $scen $size pass $pass] /" "$err" >&2
    note "$peer $scen size $size pass $pass FAILED: exit status $rc$([ $rc -ge 128 ] && echo " (signal $((rc - 128)))")"
    return $rc
  fi
  awk -v peer="$peer" -v size="$size" -v p="$pass" '
    NF == 4 && $1 == peer {
      print peer, size, p, $2, $3, $4
      if ($2 == "S8.peak_rss") peak = $3
      if ($2 == "S8.base_rss") base = $3
    }
    END {
      if (peak != "" && base != "" && peak != "NA" && base != "NA")
        printf "%s %s %s S8.bytes %.1f bytes\n", peer, size, p,
          (peak - base) * 1048576 / size
    }' "$out" >>"$RECORDS"
  return 0
}

# sweep SCENARIO "PEERS" "SIZES": every size, all passes, peers rotating.
# A failed process gives NA for its size.  For S5 a peer that crashes at
# a depth (a signal other than the timeout's KILL: the stack) is not run
# deeper, and its deepest chain that survives is bisected (S5probe)
# between the last depth that passed and the one that crashed, to within
# 1 % (at least 50 levels).
declare -A S5_FAIL S5_OK S5_WHY
sweep() {
  local scen=$1 peers=$2 sizes=$3 size pass peer rc
  for size in $sizes; do
    for ((pass = 0; pass < PASSES; pass++)); do
      for peer in $(order_of "$peers" "$pass"); do
        [ -n "${S5_FAIL[$scen.$peer]:-}" ] && continue
        run_one "$peer" "$scen" "$size" "$pass"
        rc=$?
        if [ $rc -gt 128 ] && [ $rc -ne 137 ] && [ "$scen" = S5 ]; then
          S5_FAIL[$scen.$peer]=$size
          case $rc in
            139) S5_WHY[$peer]="SIGSEGV" ;;
            *) S5_WHY[$peer]="signal $((rc - 128))" ;;
          esac
        fi
      done
    done
    for peer in $peers; do
      if [ -z "${S5_FAIL[$scen.$peer]:-}" ] && [ -n "$(awk -v p="$peer" -v s="$size" \
        '$1 == p && $2 == s { print; exit }' "$RECORDS")" ]; then
        S5_OK[$scen.$peer]=$size
      fi
    done
    note "$scen size $size done after $(($(date +%s) - T_START)) s"
  done
  [ "$scen" = S5 ] || return 0
  for peer in $peers; do
    local hi=${S5_FAIL[$scen.$peer]:-} lo=${S5_OK[$scen.$peer]:-0} mid
    [ -n "$hi" ] || continue
    while [ $((hi - lo)) -gt 50 ] && [ $((hi - lo)) -gt $((lo / 100)) ]; do
      mid=$(((lo + hi) / 2))
      # (a subshell, so that the shell's "Segmentation fault" goes too)
      if (timeout --signal=KILL "$TMO" "$BIN/bench_$peer" S5probe "$mid" \
        >/dev/null 2>&1; exit $?) 2>/dev/null; then
        lo=$mid
      else
        hi=$mid
      fi
    done
    note "$peer S5: fails at depth ${S5_FAIL[$scen.$peer]} (${S5_WHY[$peer]}); deepest chain that survives: $lo (fails at $hi)"
    echo "$peer 0 0 S5.max_depth $lo levels" >>"$RECORDS"
    echo "$peer 0 0 S5.fails_at $hi levels" >>"$RECORDS"
  done
}

for axis in $AXES; do
  case $axis in
    live)
      sweep S8 "$PEERS" "$LIVE_SIZES"
      sweep X3 ours "$LIVE_SIZES" ;;
    children) sweep S4 "$PEERS" "$CHILD_SIZES" ;;
    depth) sweep S5 "$PEERS" "$DEPTH_SIZES" ;;
    # Go 1.19's context has no callbacks (S7 is NA): not run.
    callbacks) sweep S7 "ours cxx glib" "$CALLBACK_SIZES" ;;
    *) echo "plots.sh: unknown axis '$axis'" >&2; exit 64 ;;
  esac
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - T_START))
note "load average at end: $LOAD_END"
note "sweep time: $ELAPSED s"

# ---- 3. medians over the passes: "peer size key value unit" (NA if a pass
# failed or gave NA)
MEDIANS=$DATA/medians.txt
awk -v passes="$PASSES" '
  {
    id = $1 SUBSEP $2 SUBSEP $4
    if (!(id in n)) { order[++nid] = id; unit[id] = $6; n[id] = 0 }
    if ($5 == "NA") na[id] = 1; else v[id, ++n[id]] = $5 + 0
  }
  END {
    for (k = 1; k <= nid; k++) {
      id = order[k]; m = n[id]
      split(id, f, SUBSEP)
      # S5.max_depth has one record; everything else needs every pass
      if (na[id] || m == 0 || (f[2] != 0 && m < passes)) med = "NA"
      else {
        for (i = 1; i <= m; i++) s[i] = v[id, i]
        for (i = 2; i <= m; i++) {
          x = s[i]; j = i - 1
          while (j >= 1 && s[j] > x) { s[j + 1] = s[j]; j-- }
          s[j + 1] = x
        }
        med = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
      }
      print f[1], f[2], f[3], med, unit[id]
    }
  }' "$RECORDS" >"$MEDIANS"

# dat FILE SIZES "peer:key ..." : one row per size, one column per series,
# NA where there is no value.
dat() {
  local file=$1 sizes=$2 series=$3
  awk -v sizes="$sizes" -v series="$series" '
    { v[$1, $2, $3] = $4 }
    END {
      ns = split(sizes, sz, " "); nc = split(series, col, " ")
      printf "# size"
      for (c = 1; c <= nc; c++) printf " %s", col[c]
      printf "\n"
      for (i = 1; i <= ns; i++) {
        printf "%s", sz[i]
        for (c = 1; c <= nc; c++) {
          split(col[c], pk, ":")
          x = v[pk[1], sz[i], pk[2]]
          printf " %s", (x == "" ? "NA" : x)
        }
        printf "\n"
      }
    }' "$MEDIANS" >"$DATA/$file"
}

# The deepest chain of a peer whose S5 failed, for its line's title.
max_depth() { awk -v p="$1" '$1 == p && $3 == "S5.max_depth" { print $4 }' "$MEDIANS"; }

DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
SUBTITLE="$DATE, tree $TREE, $MACHINE; load $LOAD_START -> $LOAD_END; median of $PASSES passes"

# plot NAME DATFILE XLABEL YLABEL TITLE "title1|title2|..." : a PNG in
# OUT, log-log, one line per column after the first.
plot() {
  local name=$1 file=$2 xlabel=$3 ylabel=$4 title=$5 titles=$6 i=2 spec=""
  local xmin xmax
  xmin=$(awk '!/^#/ { print $1; exit }' "$DATA/$file")
  xmax=$(awk '!/^#/ { x = $1 } END { print x }' "$DATA/$file")
  local -a t
  IFS='|' read -r -a t <<<"$titles"
  for tt in "${t[@]}"; do
    spec+="${spec:+, }'$DATA/$file' using 1:$i with linespoints ls $((i - 1)) title '$tt' noenhanced"
    i=$((i + 1))
  done
  gnuplot <<EOF || { echo "plots.sh: gnuplot failed on $name" >&2; exit 1; }
set terminal pngcairo size 860,640 font 'sans,10'
set output '$OUT/$name.png'
set tmargin 4.5
set label 1 "$title" at screen 0.5, screen 0.97 center font ',12' noenhanced
set label 2 "$SUBTITLE" at screen 0.5, screen 0.935 center font ',8' noenhanced
set datafile missing 'NA'
set logscale xy
set xrange [$xmin / 2.0 : $xmax * 2.0]
set format x '10^{%L}'
set format y '10^{%L}'
set xlabel '$xlabel'
set ylabel '$ylabel'
set grid xtics ytics mxtics mytics lc rgb '#dddddd'
set key below vertical Left reverse maxrows 4 width 2 height 1
set style line 1 lc rgb '#d62728' lw 2.5 pt 7 ps 1.2
set style line 2 lc rgb '#1f77b4' lw 1.5 pt 5 ps 1
set style line 3 lc rgb '#2ca02c' lw 1.5 pt 9 ps 1.2
set style line 4 lc rgb '#9467bd' lw 1.5 pt 11 ps 1.2
# the supplementary lines: dashed, in their peer's colour
set style line 5 lc rgb '#d62728' lw 1.5 pt 6 ps 1.2 dt 2
set style line 6 lc rgb '#d62728' lw 1.5 pt 4 ps 1.2 dt 3
set style line 7 lc rgb '#2ca02c' lw 1.5 pt 8 ps 1.2 dt 2
plot $spec
EOF
  note "wrote $OUT/$name.png"
}

TABLES=$DATA/tables.md
: >"$TABLES"
# table DATFILE UNIT "header1|header2|..." : the .dat as a markdown table.
table() {
  awk -v unit="$2" -v heads="$3" '
    function fmt(x,   a, d) {
      if (x == "NA") return "NA"
      a = x < 0 ? -x : x
      d = a < 10 ? 3 : a < 100 ? 2 : a < 1000 ? 1 : 0
      return sprintf("%." d "f", x)
    }
    BEGIN { nh = split(heads, h, "|") }
    /^#/ {
      printf "| size |"; for (i = 1; i <= nh; i++) printf " %s |", h[i]
      printf "\n|---:|"; for (i = 1; i <= nh; i++) printf "---:|"; printf "\n"
      next
    }
    {
      printf "| %s |", $1
      for (i = 2; i <= NF; i++) printf " %s |", fmt($i)
      printf "\n"
    }
    END { printf "\n(%s)\n\n", unit }' "$DATA/$1" >>"$TABLES"
}

for axis in $AXES; do
  case $axis in
    live)
      dat live-timeouts.dat "$LIVE_SIZES" \
        "ours:S8.op cxx:S8.op glib:S8.op go:S8.op ours:S8.op_scope ours:X3.registry glib:S8.op_in_loop"
      T="ours: token scope|cxx: stop_source + timer heap|glib: GCancellable + GSource|go: WithTimeout|ours: op form (S8.op_scope)|ours: registered op, N registered live (X3)|glib: in the timer loop (S8.op_in_loop)"
      plot live-timeouts live-timeouts.dat \
        'timeouts armed and live, N' 'ns per scope created and destroyed (log)' \
        'S8: create and destroy a 60 s timeout scope while N others are armed' "$T"
      table live-timeouts.dat "ns per op" "$T"
      dat timeout-memory.dat "$LIVE_SIZES" \
        "ours:S8.bytes cxx:S8.bytes glib:S8.bytes go:S8.bytes"
      T="ours|cxx|glib|go"
      plot timeout-memory timeout-memory.dat \
        'timeouts armed and live, N' 'bytes of peak RSS per armed timeout (log)' \
        'S8 memory: (peak RSS - RSS at start) / N' "$T"
      table timeout-memory.dat "bytes per armed timeout" "$T"
      ;;
    children)
      dat cascade-wide.dat "$CHILD_SIZES" \
        "ours:S4.per_child cxx:S4.per_child glib:S4.per_child go:S4.per_child"
      T="ours|cxx: stop_callback forwarding|glib: connect forwarding|go: WithCancel(parent)"
      plot cascade-wide cascade-wide.dat 'children of the cancelled parent, N' \
        'ns per child, cancel until the last reads cancelled (log)' \
        'S4: cancel a parent with N children' "$T"
      table cascade-wide.dat "ns per child" "$T"
      ;;
    depth)
      dat cascade-deep.dat "$DEPTH_SIZES" \
        "ours:S5.per_level cxx:S5.per_level glib:S5.per_level go:S5.per_level"
      T=""
      for p in ours cxx glib go; do
        d=$(max_depth $p)
        case $p in
          ours) tt="ours" ;;
          cxx) tt="cxx: stop_callback forwarding" ;;
          glib) tt="glib: connect forwarding" ;;
          go) tt="go: WithCancel(parent)" ;;
        esac
        if [ -n "$d" ]; then
          case ${S5_WHY[$p]:-} in
            SIGSEGV) tt+=" (SIGSEGV, stack overflow, past $d levels)" ;;
            *) tt+=" (${S5_WHY[$p]:-fails} past $d levels)" ;;
          esac
        fi
        T+="${T:+|}$tt"
      done
      plot cascade-deep cascade-deep.dat 'depth of the chain, D levels' \
        'ns per level, cancel the root until the leaf reads cancelled (log)' \
        'S5: cancel the root of a chain D deep (main thread, 8 MiB stack)' "$T"
      table cascade-deep.dat "ns per level" "$T"
      ;;
    callbacks)
      dat callbacks.dat "$CALLBACK_SIZES" \
        "ours:S7.per_callback cxx:S7.per_callback glib:S7.per_callback"
      T="ours|cxx: stop_callback|glib: g_cancellable_connect"
      plot callbacks callbacks.dat 'callbacks registered on the token, N' \
        'ns per callback, cancel running all N (log)' \
        'S7: cancel a token with N callbacks (go 1.19: no callbacks)' "$T"
      table callbacks.dat "ns per callback" "$T"
      ;;
  esac
done

{
  echo "# date: $DATE"
  echo "# machine: $MACHINE"
  echo "# tree: $TREE"
  echo "# load average at start: $LOAD_START; at end: $LOAD_END"
  echo "# passes: $PASSES; PEERS_REPS=$PEERS_REPS PEERS_REP_MS=$PEERS_REP_MS"
  echo "# sweep time: $ELAPSED s"
  awk '$3 ~ /^S5\.(max_depth|fails_at)$/' "$MEDIANS"
} | tee "$DATA/run-info.txt"
cat "$TABLES"
