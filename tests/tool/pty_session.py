"""tests/tool/pty_session.py - drives an interactive bash on a real
pseudo-terminal, as a user at a terminal would, for the tool's terminal
cases (tool_test.sh t_tty_*).

Usage: pty_session.py SECONDS STEP...
  send:TEXT     type TEXT (Python escapes: \\n, \\x03 is Ctrl-C, \\x1a Ctrl-Z)
  expect:REGEX  wait until the output since the last match has REGEX
  absent:REGEX  the output so far (all of it) does not have REGEX
Every step shares one hard deadline, SECONDS from the start; on a failed
step the whole session (its process group and everything in its session)
is killed, the output is printed, and the exit status is 1.  bash runs
without startup files, with job control, its prompt "PROMPT$ ".  With
PTY_LOG set, everything the terminal showed (escape sequences included) is
written to that file at the end, for the caller to check.
"""
import os
import pty
import re
import select
import signal
import sys
import time


def session_pids(sid):
    """Every process of session @sid (read from /proc)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid:
            pids.append(int(name))
    return pids


def kill_session(sid):
    for pid in session_pids(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def main():
    deadline = time.monotonic() + float(sys.argv[1])
    steps = sys.argv[2:]
    env = dict(os.environ, PS1="PROMPT$ ", TERM="dumb")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)
    out, seen = b"", 0

    def read_some(limit):
        nonlocal out
        r, _, _ = select.select([fd], [], [], limit)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            out += data
            return bool(data)
        return True

    def save():
        if os.environ.get("PTY_LOG"):
            with open(os.environ["PTY_LOG"], "wb") as f:
                f.write(out)

    def failed(why):
        save()
        kill_session(pid)
        sys.stderr.write("pty_session: %s\n--- terminal output\n%s\n---\n" %
                         (why, out.decode(errors="replace")))
        sys.exit(1)

    for step in steps:
        kind, _, arg = step.partition(":")
        if kind == "send":
            os.write(fd, arg.encode().decode("unicode_escape").encode())
        elif kind == "expect":
            pat = re.compile(arg.encode())
            while True:
                m = pat.search(out, seen)
                if m:
                    seen = m.end()
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    failed("timed out waiting for /%s/" % arg)
                if not read_some(min(left, 0.2)):
                    failed("the terminal closed waiting for /%s/" % arg)
        elif kind == "absent":
            read_some(0.1)
            if re.search(arg.encode(), out):
                failed("/%s/ is in the output" % arg)
        else:
            failed("bad step %r" % step)
    os.write(fd, b"exit\n")
    end = time.monotonic() + 2
    while time.monotonic() < end and read_some(0.1):
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        except ChildProcessError:
            break
    kill_session(pid)
    save()
    sys.exit(0)


main()
