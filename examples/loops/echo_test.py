#!/usr/bin/env python3
"""examples/loops/echo_test.py - drive uv_echo_server as a client would.

Starts the server on 127.0.0.1 with a random port and a 0.5 s idle
timeout, checks that it echoes, that an idle connection is closed by the
server (reason timeout), that SIGTERM cancels the server op and closes the
connections still open (graceful shutdown) and that it then exits 0 with
"shutdown: clean".  Prints "example: ok" on success, "example: FAIL: ..."
otherwise.

Usage: echo_test.py PATH/TO/uv_echo_server
"""
import signal
import socket
import subprocess
import sys
import time


def fail(msg, proc=None):
    if proc is not None:
        proc.kill()
        out, _ = proc.communicate()
        sys.stdout.write(out)
    print("example: FAIL: " + msg)
    sys.exit(1)


def main():
    proc = subprocess.Popen([sys.argv[1], "0", "0.5"], stdout=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on 127.0.0.1:"):
        fail("no listening line: %r" % line, proc)
    port = int(line.rsplit(":", 1)[1])
    print(line, end="")

    # Echo.
    a = socket.create_connection(("127.0.0.1", port), timeout=10)
    # The server restarts the idle timer when it reads, after this moment:
    # its close cannot come sooner than 0.5 s from here, however slow the
    # round trip (a loaded machine, sanitizers).
    start = time.monotonic()
    a.sendall(b"hello\n")
    got = b""
    while len(got) < 6:
        chunk = a.recv(64)
        if not chunk:
            fail("connection closed before the echo", proc)
        got += chunk
    if got != b"hello\n":
        fail("echo was %r" % got, proc)
    print("echo ok")

    # Idle: the server closes the connection after 0.5 s without data.
    if a.recv(64) != b"":
        fail("expected the server to close the idle connection", proc)
    idle = time.monotonic() - start
    if idle < 0.45:
        fail("idle close too early: %.3f s" % idle, proc)
    print("idle close after %.2f s" % idle)
    a.close()

    # SIGTERM with a connection open: it is closed, the server exits 0.
    b = socket.create_connection(("127.0.0.1", port), timeout=10)
    b.sendall(b"x")
    if b.recv(1) != b"x":
        fail("second connection did not echo", proc)
    proc.send_signal(signal.SIGTERM)
    if b.recv(64) != b"":
        fail("expected the shutdown to close the open connection", proc)
    b.close()
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        fail("server did not exit after SIGTERM", proc)
    sys.stdout.write(out)
    if proc.returncode != 0:
        fail("server exited %d" % proc.returncode)
    if "shutdown: clean (cancelled)" not in out:
        fail("no clean shutdown line")
    if "connection closed: idle for 0.5 s (timeout)" not in out:
        fail("no idle timeout line")
    print("example: ok")


main()
