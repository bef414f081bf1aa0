#!/usr/bin/env bash
# scripts/alloc-sweep.sh - the allocation-failure sweep: runs each unit
# subtest once to count the allocations it makes through the library's
# allocator, then again with the 1st, 2nd, ... of them failing (the idea of
# curl's `runtests -t`), on the ASan + UBSan build (build-asan, reused).
#
# Usage: bash scripts/alloc-sweep.sh [--points N] [--budget S] [--sticky N]
#                                    [--timeout S] [--build-dir DIR]
#                                    [--jobs N] [REGEX]
#
#   --points N      single failures per subtest at most (default 12): every
#                   allocation when it makes no more, else N spread evenly
#                   from its first allocation to its last
#   --budget S      fewer for slow subtests: at most S / (the seconds of one
#                   run) points, but at least 2 (default 1; 0: no limit)
#   --sticky N      also N points per subtest where that allocation and
#                   every later one fail (default 1: the middle one; 0: none)
#   --timeout S     a run taking longer than S, or 4 times as long as the
#                   subtest's counting run if that is more, is a hang
#                   (default 30; the counting run itself gets 4 S)
#   --build-dir DIR default build-asan (configured and built by
#                   scripts/test.sh --sanitize address first)
#   --jobs N        runs at once (default: nproc)
#   REGEX           only the subtests whose name matches (ctest -R);
#                   default: every test labelled unit and neither slow
#                   nor adapter (the core library's unit subtests)
#
# A run passes when it ends without a crash, an abort, a hang or a
# sanitizer report (leaks included), and the test either passed or stopped
# at a failed assertion after the injected failure (tests/common/cx_test.c
# stops it there and checks for leaks while the test's own objects are
# still reachable) - unless a call that failed with -ENOMEM, made again,
# did not do what the test expected.  The last line counts subtests the
# way CTest does ("N% tests passed, F tests failed out of T"), so that
# .ci/run adds them up; exits non-zero if any failed.  Each failure prints
# the command that repeats it; its log stays in DIR/alloc-sweep/logs/.
# What a pass proves and what it does not: docs/internals.md.
set -euo pipefail

# ---- a worker (through xargs): --worker WORK ENTRY...
# Runs each ENTRY (INDEX:MODE:K:TIMEOUT, MODE count, once or sticky, the
# hang limit in seconds) and writes
# WORK/res/INDEX.MODE.K: verdict, seconds, details (tab-separated).  Only
# `timeout` and the test are started per run: starting processes is what
# costs most here.
if [[ "${1:-}" == --worker ]]; then
  work=$2
  shift 2
  mapfile -t tests <"$work/tests.tsv"
  out="$work/tmp.$BASHPID.out" lines="$work/tmp.$BASHPID.sweep"
  for entry; do
    index=${entry%%:*} rest=${entry#*:}
    mode=${rest%%:*} rest=${rest#*:}
    k=${rest%%:*} timeout_s=${rest#*:}
    line=${tests[index]}
    exe=${line%%$'\t'*} name=${line#*$'\t'}
    case "$mode" in
      count) fail=count ;;
      once) fail=$k ;;
      *) fail="$k+" ;;
    esac
    cd "${exe%/*}"
    : >"$lines"
    rc=0
    start=${EPOCHREALTIME/./}
    CX_ALLOC_FAIL=$fail CX_ALLOC_FAIL_LOG=$lines \
      timeout -k 5 "$timeout_s" "$exe" "$name" >"$out" 2>&1 || rc=$?
    us=$((${EPOCHREALTIME/./} - start))
    printf -v secs '%d.%02d' $((us / 1000000)) $((us / 10000 % 100))

    # What the library and the runner said (runtime/alloc.c, cx_test.c).
    where="" retried="" again="" stop="" n="" own=""
    while IFS= read -r l; do
      case "$l" in
        "cx-alloc-sweep: allocation "*" failed (injected) "*)
          where=${l#*(injected) } ;;
        "cx-alloc-sweep: the test drives the hook") own=1 ;;
        "cx-alloc-sweep: "*" allocations")
          n=${l#cx-alloc-sweep: }
          n=${n% allocations} ;;
        "cx-test-sweep: retried at "*) retried=${l#*retried at } ;;
        "cx-test-sweep: made again, "*) again=${l#cx-test-sweep: } ;;
        "cx-test-sweep: stopped at "*) stop=${l#*stopped at } ;;
      esac
    done <"$lines"
    report=""
    text=""
    IFS= read -r -d '' text <"$out" || true
    for pattern in "ERROR: AddressSanitizer" "ERROR: LeakSanitizer" \
      "runtime error:"; do
      if [[ "$text" == *"$pattern"* ]]; then
        report=${text#*"$pattern"}
        report="$pattern${report%%$'\n'*}"
        break
      fi
    done

    detail=""
    if ((rc == 124 || rc == 137)); then
      verdict=FAIL detail="hang: no end within $timeout_s s"
    elif [[ -n "$report" ]]; then
      verdict=FAIL detail="sanitizer: $report"
    elif ((rc == 23 || rc == 24)); then
      verdict=FAIL detail="sanitizer (exit $rc)"
    elif [[ $mode == count ]]; then
      if ((rc != 0)); then
        verdict=FAIL detail="fails with no injected failure (exit $rc)"
      elif [[ -n "$own" ]]; then
        verdict=own detail="injects failures itself"
      elif [[ -z "$n" ]]; then
        verdict=FAIL detail="no allocation count: is $exe an ASan build?"
      else
        verdict=count detail=$n
      fi
    elif [[ -n "$again" ]]; then
      verdict=FAIL
      detail="the call at $retried failed with -ENOMEM; $again"
    elif ((rc == 0)); then
      if [[ -z "$where" ]]; then
        verdict=unreached # this run made fewer allocations
      elif [[ -n "$retried" ]]; then
        verdict=recovered detail="injected $where; made again at $retried"
      else
        verdict=absorbed detail="injected $where"
      fi
    elif ((rc == 86)); then
      if [[ -n "$where" ]]; then
        verdict=stopped detail="injected $where; stopped at $stop"
      else
        verdict=FAIL detail="stopped at $stop with no injected failure"
      fi
    elif ((rc > 128)); then
      verdict=FAIL detail="killed by signal $((rc - 128))"
    else
      verdict=FAIL detail="exit status $rc"
    fi
    if [[ $verdict == FAIL ]]; then
      {
        printf '%s' "$text"
        printf '%s\n' "--- the sweep's lines:"
        while IFS= read -r l; do printf '%s\n' "$l"; done <"$lines"
      } >"$work/logs/$index.$mode.$k.log"
    fi
    printf '%s\t%s\t%s\n' "$verdict" "$secs" "$detail" \
      >"$work/res/$index.$mode.$k"
  done
  exit 0
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
self="$root/scripts/alloc-sweep.sh"
points=12
budget=1
sticky=1
timeout_s=30
build_dir=""
jobs=$(nproc 2>/dev/null || echo 2)
regex=""

usage() {
  sed -n '2,37s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

number() { # number OPTION VALUE MIN
  [[ "$2" =~ ^[0-9]+$ ]] && (($2 >= $3)) || {
    echo "alloc-sweep.sh: $1 takes a whole number >= $3" >&2
    exit 2
  }
}

while (($# > 0)); do
  case "$1" in
    --points | --budget | --sticky | --timeout | --build-dir | --jobs | -j)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      case "$1" in
        --points) number "$1" "$2" 1; points=$2 ;;
        --budget) number "$1" "$2" 0; budget=$2 ;;
        --sticky) number "$1" "$2" 0; sticky=$2 ;;
        --timeout) number "$1" "$2" 1; timeout_s=$2 ;;
        --build-dir) build_dir=$2 ;;
        *) number "$1" "$2" 1; jobs=$2 ;;
      esac
      shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "alloc-sweep.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *) regex=$1; shift ;;
  esac
done
build_dir=${build_dir:-build-asan}
[[ "$build_dir" = /* ]] || build_dir="$root/$build_dir"

# The ASan build of scripts/test.sh (reused when it is there): `ctest -N`
# only lists the tests.
sweep_start=$SECONDS
bash "$root/scripts/test.sh" --sanitize address --build-dir "$build_dir" \
  --jobs "$jobs" -- -N >/dev/null

work="$build_dir/alloc-sweep"
rm -rf "$work"
mkdir -p "$work/res" "$work/logs"

# Subtests: "EXE<TAB>NAME" from CTest's own list, only those a cx_test
# runner makes (the command is the executable and the subtest's name: not
# the /layers/* checks, which run a script).  The adapters' tests (label
# adapter) are left out unless REGEX names them: their libraries allocate
# outside the hook, and their servers and clients are not the library's
# contract.
filter=(-L unit -LE '^(slow|adapter)$')
[[ -n "$regex" ]] && filter=(-R "$regex")
(cd "$build_dir" && ctest -N -V "${filter[@]}") | awk '
  /^[0-9]+: Test command: / {
    n = $1; sub(/:$/, "", n)
    c = $0; sub(/^[0-9]+: Test command: /, "", c)
    cmd[n] = c
    next
  }
  /^ *Test +#[0-9]+: / {
    n = $0; sub(/^ *Test +#/, "", n); sub(/:.*$/, "", n)
    name = $0; sub(/^ *Test +#[0-9]+: /, "", name)
    c = cmd[n]; tail = " \"" name "\""
    if (length(c) <= length(tail)) next
    if (substr(c, length(c) - length(tail) + 1) != tail) next
    exe = substr(c, 1, length(c) - length(tail))
    if (exe !~ /[ "]/) print exe "\t" name
  }' >"$work/tests.tsv"
# Left out by name, each for its reason:
# - /fork/under-load forks while threads allocate, which AddressSanitizer's
#   allocator does not survive (no lock around fork in GCC 12's libsanitizer:
#   the child hangs in malloc, with or without an injected failure); the
#   test skips itself under ASan, and there is nothing here to sweep.
grep -v -P '\t/fork/under-load$' "$work/tests.tsv" >"$work/tests.kept" || true
mv "$work/tests.kept" "$work/tests.tsv"
ntests=$(wc -l <"$work/tests.tsv")
if ((ntests == 0)); then
  echo "alloc-sweep.sh: no subtest matches" >&2
  exit 2
fi

# Every report fails the run; a crash is ASan's to report, not cmocka's
# (whose SIGSEGV handler would turn it into a failed assertion).
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:allow_user_segv_handler=0:exitcode=23
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=24
export LSAN_OPTIONS=exitcode=23

# run_all < "INDEX:MODE:K" lines: a batch of runs per worker process.
run_all() {
  xargs -P "$jobs" -n 16 bash "$self" --worker "$work"
  rm -f "$work"/tmp.*
}

echo "alloc-sweep: $ntests subtests; counting their allocations"
for ((i = 0; i < ntests; i++)); do
  echo "$i:count:0:$((4 * timeout_s))"
done | run_all

# The injection points.  A subtest that made N allocations in T seconds
# gets min(N, --points, --budget / T, but at least 2) single failures,
# spread evenly from the 1st allocation to the Nth (all N when that many),
# and --sticky sticky ones likewise.
plan="$work/plan"
for ((i = 0; i < ntests; i++)); do
  IFS=$'\t' read -r verdict secs n <"$work/res/$i.count.0"
  [[ $verdict == count ]] && printf '%s %s %s\n' "$i" "$secs" "$n"
done | awk -v points="$points" -v budget="$budget" -v sticky="$sticky" \
  -v timeout="$timeout_s" '
  function spread(i, mode, p, n, t,   j, k, last) {
    if (p > n) p = n
    last = 0
    for (j = 0; j < p; j++) {
      k = p == 1 ? int((n + 1) / 2) : 1 + int(j * (n - 1) / (p - 1))
      if (k != last) print i ":" mode ":" k ":" t
      last = k
    }
  }
  $3 > 0 {
    t = int(4 * $2 + 1)
    if (t < timeout) t = timeout
    p = points
    if (budget > 0 && $2 > 0 && int(budget / $2) < p) p = int(budget / $2)
    if (p < 2) p = 2
    spread($1, "once", p, $3, t)
    if (sticky > 0) spread($1, "sticky", sticky, $3, t)
  }' >"$plan"
nruns=$(wc -l <"$plan")
nonce=$(grep -c ':once:' "$plan" || true)
echo "alloc-sweep: $nruns runs ($nonce single failures, $((nruns - nonce))" \
  "sticky), $jobs at once"
run_all <"$plan"

# Verdicts per subtest; every run's in WORK/results.tsv (name, mode, K,
# verdict, seconds, details).
failed=0 counted=0 own=0 nalloc=0
declare -A tally=()
mapfile -t tests <"$work/tests.tsv"
: >"$work/results.tsv"
for ((i = 0; i < ntests; i++)); do
  exe=${tests[i]%%$'\t'*} name=${tests[i]#*$'\t'}
  bad=()
  for f in "$work/res/$i".*; do
    IFS=$'\t' read -r verdict secs detail <"$f"
    what=${f##*/}
    what=${what#*.}
    mode=${what%.*} k=${what#*.}
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$mode" "$k" "$verdict" \
      "$secs" "$detail" >>"$work/results.tsv"
    tally[$verdict]=$((${tally[$verdict]:-0} + 1))
    case "$verdict" in
      FAIL)
        case "$mode" in
          count) fail=count ;;
          once) fail=$k ;;
          *) fail="$k+" ;;
        esac
        bad+=("$mode $k: $detail"
          "  repeat: (cd ${exe%/*} && CX_ALLOC_FAIL=$fail $exe $name)"
          "  log: $work/logs/$i.$what.log") ;;
      own) own=$((own + 1)) ;;
      count) counted=$((counted + 1)) nalloc=$((nalloc + detail)) ;;
    esac
  done
  if ((${#bad[@]} > 0)); then
    failed=$((failed + 1))
    echo "alloc-sweep: FAILED $name"
    for b in "${bad[@]}"; do echo "alloc-sweep:   $b"; done
  fi
done

secs=$((SECONDS - sweep_start))
echo "alloc-sweep: $ntests subtests ($counted swept, $nalloc allocations" \
  "counted; $own inject failures themselves and were left out);" \
  "$nruns injection runs; $secs s in all"
echo "alloc-sweep: runs: ${tally[recovered]:-0} recovered (a call made" \
  "again after -ENOMEM, then the test passed), ${tally[absorbed]:-0}" \
  "absorbed (passed), ${tally[stopped]:-0} stopped at an assertion," \
  "${tally[unreached]:-0} unreached, ${tally[FAIL]:-0} failed"
passed=$((ntests - failed))
echo "$((passed * 100 / ntests))% tests passed, $failed tests failed out of $ntests"
((failed == 0))
