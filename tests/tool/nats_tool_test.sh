#!/usr/bin/env bash
# tests/tool/nats_tool_test.sh - the tool on NATS (`run --nats`, `cancel`,
# `ps`) with a real nats-server that each case starts on 127.0.0.1 (a free
# port, JetStream in a temporary folder) and stops by its pid.
# Usage: nats_tool_test.sh CASE (the functions t_NAME below, case NAME with
# '-' for '_'), or --list.  Environment: CANCELABLE (the binary), PYTHON3.
# Exit 0 pass, 1 fail, 77 skip (nats-server not installed).
set -u

fail() {
  echo "FAIL: $*" >&2
  [ -s "$TMP/out" ] && { echo "--- out" >&2; cat "$TMP/out" >&2; }
  exit 1
}

cleanup() {
  local p
  for p in $(pgrep -f "$MARK" 2>/dev/null); do
    [ "$p" != "$$" ] && kill -KILL "$p" 2>/dev/null
  done
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null &&
    wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}

free_port() {
  "${PYTHON3:-python3}" -I -S -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() {
  local port i
  port=$(free_port) || fail "no free port"
  "$NATS_SERVER" -a 127.0.0.1 -p "$port" -js -sd "$TMP/js" \
    >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  URL="nats://127.0.0.1:$port"
  for i in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  fail "nats-server did not start"
}

# Waits until `cancelable ps` shows an op named $1.
wait_listed() {
  local i
  for i in $(seq 100); do
    "$CANCELABLE" ps --nats="$URL" --wait=0.3 | grep -q "	$1\$" && return 0
    sleep 0.1
  done
  fail "op $1 never listed"
}

# A cancel by name reaches a `run --nats` in another process: 120, and the
# answer names its node with a count of 1.
t_cancel_by_name() {
  "$CANCELABLE" run --nats="$URL" --name="job-$MARK" -- sleep "$MARK" &
  local pid=$! rc
  wait_listed "job-$MARK"
  "$CANCELABLE" cancel --nats="$URL" --name="job-*" >"$TMP/out"
  rc=$?
  [ "$rc" = 0 ] || fail "cancel exited $rc"
  grep -q ":$pid	1\$" "$TMP/out" || fail "no count 1 for node *:$pid"
  grep -qx "total	1" "$TMP/out" || fail "no total 1"
  wait "$pid"
  rc=$?
  [ "$rc" = 120 ] || fail "run exited $rc, not 120"
  "$CANCELABLE" cancel --nats="$URL" --name="none-$MARK" >"$TMP/out"
  rc=$?
  [ "$rc" = 1 ] || fail "a cancel of nothing exited $rc, not 1"
}

# cancel --status=running reaches the running op (this test's server has
# no other); a status no live op has, or two selectors, is bad usage.
t_cancel_by_status() {
  local rc
  "$CANCELABLE" cancel --nats="$URL" --status=completed x >/dev/null 2>&1
  rc=$?
  [ "$rc" = 125 ] || fail "--status=completed exited $rc, not 125"
  "$CANCELABLE" cancel --nats="$URL" --status=running --name=x \
    >/dev/null 2>&1
  rc=$?
  [ "$rc" = 125 ] || fail "--status with --name exited $rc, not 125"
  "$CANCELABLE" run --nats="$URL" --name="st-$MARK" -- sleep "$MARK" &
  local pid=$!
  wait_listed "st-$MARK"
  "$CANCELABLE" cancel --nats="$URL" --status=running >"$TMP/out"
  rc=$?
  [ "$rc" = 0 ] || fail "cancel exited $rc"
  grep -qx "total	1" "$TMP/out" || fail "no total 1: $(cat "$TMP/out")"
  wait "$pid"
  rc=$?
  [ "$rc" = 120 ] || fail "run exited $rc, not 120"
}

# ps --json lists the op with its node and the remote parent of a child.
t_ps_json() {
  "$CANCELABLE" run --nats="$URL" --name="outer-$MARK" -- \
    "$CANCELABLE" run --nats="$URL" --name="inner-$MARK" -- sleep "$MARK" &
  local pid=$!
  wait_listed "inner-$MARK"
  "$CANCELABLE" ps --nats="$URL" --json >"$TMP/out" || fail "ps failed"
  "${PYTHON3:-python3}" -I -S - "$TMP/out" "$MARK" <<'PY' || fail "bad JSON"
import json, sys
doc = json.load(open(sys.argv[1]))
mark = sys.argv[2]
ops = {o["name"]: o for o in doc["ops"]}
outer, inner = ops["outer-" + mark], ops["inner-" + mark]
assert doc["nodes"] >= 2, doc
assert inner["remote_parent_id"] == outer["id"], doc
assert outer["status"] == "running" and outer["node"] != inner["node"], doc
PY
  "$CANCELABLE" cancel --nats="$URL" --name="outer-$MARK" >/dev/null
  wait "$pid"
  return 0
}

# Cancelling the outer run cancels the inner one through NATS (reason
# parent; the outer sends no signal, --stop-signal=0, and would kill only
# after 30 s), and both exit 120.
t_parent_cascade() {
  "$CANCELABLE" run --nats="$URL" --name="outer-$MARK" --stop-signal=0 \
    --grace=30 -- \
    "$CANCELABLE" run --nats="$URL" --name="inner-$MARK" \
    --report-file="$TMP/inner.json" -- sleep "$MARK" &
  local pid=$! rc
  wait_listed "inner-$MARK"
  "$CANCELABLE" cancel --nats="$URL" --name="outer-$MARK" >/dev/null
  wait "$pid"
  rc=$?
  [ "$rc" = 120 ] || fail "outer exited $rc, not 120"
  grep -q '"reason":"parent"' "$TMP/inner.json" ||
    fail "inner not cancelled by its parent: $(cat "$TMP/inner.json")"
}

# The inner run inherits the outer one's deadline: both time out (124)
# at about the outer timeout.  The outer one sends no signal
# (--stop-signal=0, KILL only after 30 s): the inner one stops by itself.
# The inner one's server is down, so the outer's cancel cannot reach it
# (with both on one server, the cascade of the outer's timeout may arrive
# before the inner's own timer: reason "parent"); the context travels in
# the environment all the same.
t_deadline_inherited() {
  local start end rc down
  down="nats://127.0.0.1:$(free_port)"
  start=$(date +%s.%N)
  "$CANCELABLE" run --nats="$URL" --timeout=1.5 --stop-signal=0 --grace=30 -- \
    "$CANCELABLE" run --nats="$down" --report-file="$TMP/inner.json" -- \
    sleep "$MARK"
  rc=$?
  end=$(date +%s.%N)
  [ "$rc" = 124 ] || fail "exited $rc, not 124"
  grep -q '"reason":"timeout"' "$TMP/inner.json" ||
    fail "inner did not time out: $(cat "$TMP/inner.json")"
  awk -v s="$start" -v e="$end" 'BEGIN { exit !(e - s >= 1.4 && e - s < 10) }' ||
    fail "took $(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }') s"
}

# Without a server: cancel and ps fail (125) after their 5 s wait; run
# still runs its command and keeps its local timeout.
t_no_server() {
  local port rc
  port=$(free_port)
  URL="nats://127.0.0.1:$port"
  "$CANCELABLE" run --nats="$URL" --timeout=0.5 -- sleep "$MARK"
  rc=$?
  [ "$rc" = 124 ] || fail "run exited $rc, not 124"
  "$CANCELABLE" cancel --nats="$URL" x 2>"$TMP/out"
  rc=$?
  [ "$rc" = 125 ] || fail "cancel exited $rc, not 125"
  grep -q "cannot connect" "$TMP/out" || fail "no error message"
}

if [ "${1:-}" = --list ]; then
  declare -F | sed -n 's/^declare -f t_//p' | tr _ -
  exit 0
fi
case_fn="t_$(tr - _ <<<"${1:-}")"
declare -F "$case_fn" >/dev/null || { echo "no case '${1:-}'" >&2; exit 1; }
NATS_SERVER=$(PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v nats-server) ||
  { echo "nats-server not installed: skipped"; exit 77; }
MARK="$((RANDOM % 9000 + 1000)).$$"
TMP=$(mktemp -d)
trap cleanup EXIT
[ "$case_fn" = t_no_server ] || start_server
"$case_fn"
