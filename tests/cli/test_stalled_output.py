"""Output nobody reads (`--json ... | sleep 15`, `--pcap - | sleep 15`): the run still
ends at -t or at the first stop signal, the reader is given 5 s for what is left, and
the summary goes to stderr (wskrecv/output/queued.py). The receive core plays no part:
these run in the native half only."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import time
from typing import Callable

import pytest

from tests.cli.test_output_faults import _send
from tests.conftest import WSKRECV, free_udp_port, popen, wait_for

STALLED = "wskrecv: error: cannot write standard output: it took nothing for 5 s (nobody reads it)"


def held(fd: int) -> int:
    """Bytes waiting in the pipe whose read end is `fd`."""
    import fcntl
    import termios

    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]


def unread_pipe_full(fd: int, nudge: Callable[[], object] = lambda: None) -> bool:
    """Whether the pipe is full: it holds bytes, and no more come in a fifth of a second
    although the writer has more (`nudge` makes more: datagrams to capture; interval lines
    come 100 a second by themselves). A pipe is full short of 64 KiB when a write does
    not fit what its last page has left."""
    before = held(fd)
    nudge()
    time.sleep(0.2)
    return before > 0 and held(fd) == before


@pytest.mark.parametrize("args", [["--json", "-i", "0.01"], ["--pcap", "-", "-q"]],
                         ids=["json", "pcap-stdout"])
def test_output_nobody_reads_does_not_outlast_the_run(args: list[str]) -> None:
    """`--json ... | sleep 15` ended at 15 s, when the reader left, with no summary: -t
    waited for the pipe. Now the run ends at -t, the reader is given 5 s for what is left,
    and the summary is on stderr."""
    port = free_udp_port()
    r, w = os.pipe()
    try:
        with popen([WSKRECV, "listen", "-b", "127.0.0.1", "-p", str(port), "-t", "3", *args],
                   stdout=w, stderr=subprocess.PIPE, text=True) as proc:
            os.close(w)
            w = -1
            if "--pcap" in args:  # records fill the pipe
                assert wait_for(lambda: unread_pipe_full(r, lambda: _send(port, 100)), 30)
            _, err = proc.communicate(timeout=60)  # not waiting for the reader
        assert proc.returncode == 1, err
        assert err.splitlines()[-1].startswith(STALLED)
        assert "summary (duration over)" in err
        assert "Traceback" not in err
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_a_stop_signal_wins_over_output_nobody_reads() -> None:
    """The first Ctrl-C ends the run while its output is blocked (it used to wait for a
    reader: the loop was stuck in the write)."""
    r, w = os.pipe()
    try:
        with popen([WSKRECV, "event", "-b", "127.0.0.1", "-p", "0", "--json", "-i", "0.01"],
                   stdout=w, stderr=subprocess.PIPE, text=True) as proc:
            os.close(w)
            w = -1
            assert wait_for(lambda: unread_pipe_full(r), 30)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        assert "summary (interrupted)" in err and err.splitlines()[-1].startswith(STALLED)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
