#!/usr/bin/env python3
"""Runs CMD (an interactive `sh` through ctr -t) on a PTY this script owns and
resizes it: for each ROWSxCOLS given, sets the PTY's window size (TIOCSWINSZ),
signals CMD (SIGWINCH, as a terminal emulator's resize does), and asks the
shell for `stty size` until it reports that size. Prints each size the shell
reported; exits 0 when every size was seen, 1 otherwise. Every wait has a
deadline, and CMD is killed if it outlives the script.

  tty_resize.py DEADLINE_S ROWSxCOLS[,ROWSxCOLS...] CMD...
"""
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time

deadline = time.monotonic() + float(sys.argv[1])
sizes = [tuple(int(n) for n in s.split("x")) for s in sys.argv[2].split(",")]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[3], sys.argv[3:])
out = b""


def read_until(pattern, seconds):
    """Reads the PTY until `pattern` matches output after `out`'s current end."""
    global out
    start = len(out)
    end = min(deadline, time.monotonic() + seconds)
    while time.monotonic() < end:
        m = pattern.search(out, start)
        if m:
            return m
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:  # the child closed the PTY
                return pattern.search(out, start)
    return None


# The reply marker is computed by the shell, so the terminal's echo of the
# typed command never matches it.
ask = b"stty size; echo E$((40+2))\n"
answer = re.compile(rb"(\d+) (\d+)\s+E42")  # \r\n from one or two ttys
ok = read_until(re.compile(rb"# "), 300) is not None  # the guest shell's prompt
for rows, cols in sizes if ok else []:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    seen = None
    while time.monotonic() < deadline and seen != (rows, cols):
        try:
            os.write(fd, ask)
        except OSError:  # CMD ended: no answer will come
            break
        m = read_until(answer, 10)
        seen = (int(m.group(1)), int(m.group(2))) if m else None
        print("stty size: %s" % ("%d %d" % seen if seen else "no answer"), flush=True)
        if seen != (rows, cols):
            time.sleep(0.5)  # ResizePty travels beside the typed command, not with it
    ok = ok and seen == (rows, cols)
try:
    os.write(fd, b"exit\n")
except OSError:  # CMD already ended
    pass
while os.waitpid(pid, os.WNOHANG) == (0, 0):
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        break
    read_until(re.compile(rb"(?!)"), 0.2)  # keep draining: CMD must not block on output
if not ok:
    sys.stdout.write("output (tail, as bytes):\n%r\n" % out[-2000:])
sys.exit(0 if ok else 1)
