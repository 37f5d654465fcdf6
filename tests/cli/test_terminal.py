"""The live dashboard under a real terminal (a pty): whatever happens to the display
process that draws it, the receiver gives the terminal back as it found it."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import socket
import struct
import subprocess
import termios
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import WSKRECV, popen, read_line, wait_for
from tests.processes import children, cmdline
from wskrecv.signals import wait_ready

pytestmark = pytest.mark.network

HIDE, SHOW = b"\x1b[?25l", b"\x1b[?25h"
ALT_ON, ALT_OFF = b"\x1b[?1049h", b"\x1b[?1049l"


class Terminal:
    """The master side of an 80x24 pty: what the programs on its slave side wrote."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.output = b""
        self.closed = False

    def pump(self, timeout: float = 0.1) -> None:
        """Read what is there (waiting at most `timeout`); end of file once every
        program holding the slave side has exited."""
        if self.closed:
            return
        ready, _ = wait_ready([self.master], (), timeout)
        if ready:
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:  # EIO: the slave side is closed everywhere
                chunk = b""
            self.output += chunk
            self.closed = not chunk

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@contextmanager
def live_receiver(*args: str) -> Iterator[tuple[subprocess.Popen, Terminal, int]]:
    """`wskrecv listen --live --json ARGS` with stderr on a pty (the dashboard's terminal)
    and stdout a pipe: yields (the receiver, the terminal, its port)."""
    assert WSKRECV
    term = Terminal()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    try:
        with popen([WSKRECV, "listen", "-b", "127.0.0.1", "-p", "0", "--json", "--live",
                    *args], stdout=subprocess.PIPE, stderr=term.slave,
                   stdin=subprocess.DEVNULL, env=env) as proc:
            os.close(term.slave)
            term.slave = -1
            assert proc.stdout is not None
            start = json.loads(read_line(proc.stdout, 20))
            yield proc, term, start["port"]
    finally:
        term.close()


def _display_process(pid: int) -> int:
    """The receiver's display process (wskrecv.output.screen), or 0."""
    return next((k for k in children(pid) if b"wskrecv.output.screen" in cmdline(k)), 0)


def _send(port: int, n: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(n):
            s.sendto(b"%d" % i, ("127.0.0.1", port))


def _restored(output: bytes) -> bool:
    """The cursor is shown after it was last hidden, and no alternate screen is left on."""
    return (output.rfind(SHOW) > output.rfind(HIDE) >= 0
            and output.rfind(ALT_OFF) >= output.rfind(ALT_ON))


@pytest.mark.parametrize("fate", ["killed", "hung"])
def test_the_terminal_is_restored_whatever_becomes_of_the_display_process(fate: str) -> None:
    """killed: SIGKILL while the run goes on; hung: stopped (SIGSTOP), so the receiver
    gives up waiting for its last frame and kills it itself. Either way it never showed
    the cursor again: the receiver does, then prints its summary and exits 0."""
    with live_receiver("-c", "5") as (proc, term, port):
        # The dashboard is drawn: the display process has hidden the cursor.
        assert wait_for(lambda: term.pump() or HIDE in term.output, 30), term.output[-300:]
        display = _display_process(proc.pid)
        assert display
        os.kill(display, signal.SIGKILL if fate == "killed" else signal.SIGSTOP)
        if fate == "killed":  # the receiver finds out at its next frame, and says so
            note = b"display process was killed (SIGKILL); plain interval lines from here on"
            assert wait_for(lambda: term.pump() or note in term.output, 30), term.output[-300:]
            assert wait_for(lambda: term.pump() or re.search(
                rb"\[\s*\d+\.\ds\]", term.output.split(note)[1]), 30)  # an interval line
        _send(port, 5)
        # Read the terminal meanwhile: a terminal nobody reads blocks its writers.
        assert wait_for(lambda: term.pump() or proc.poll() is not None, 60)
        assert proc.wait() == 0
        assert wait_for(lambda: term.pump() or term.closed, 30)
        out = term.output
    assert _restored(out), out[-400:]
    summary = out.rindex(b"--- wskrecv irp summary (count reached) ---")
    assert out.rfind(HIDE) < out.rfind(SHOW) < summary  # given back before the summary
    assert re.search(rb"received\s+5 datagrams", out[summary:])
    assert b"Traceback" not in out


def test_the_dashboard_gives_the_terminal_back_after_a_normal_run() -> None:
    with live_receiver("-c", "3") as (proc, term, port):
        assert wait_for(lambda: term.pump() or HIDE in term.output, 30)
        _send(port, 3)
        # Read the terminal meanwhile: a terminal nobody reads blocks its writers.
        assert wait_for(lambda: term.pump() or proc.poll() is not None, 60)
        assert proc.wait() == 0
        assert wait_for(lambda: term.pump() or term.closed, 30)
    assert _restored(term.output)
    assert b"--- wskrecv irp summary (count reached) ---" in term.output
