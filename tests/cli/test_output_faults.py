"""Output that cannot be written: standard output on a full disk (`>/dev/full`) is one
line on stderr and exit 1 in every command, never a traceback; a capture that fails
(disk full, a FIFO whose reader left) ends the run with exit 1 and its summary; capture
paths that cannot work are refused. Standard output is a process's descriptor 1: those
tests run the installed command; captures, which are paths, run in this process
(tests/harness.py)."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
from pathlib import Path
from typing import Callable

import pytest
from scapy.layers.inet import UDP
from scapy.utils import rdpcap

from tests.conftest import WSKRECV, free_udp_port, popen, read_line, run_cli
from tests.harness import receive, wskrecv

pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")

FULL = "wskrecv: error: cannot write standard output: No space left on device"


def run_to_full(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    with open("/dev/full", "w") as full:
        return subprocess.run([WSKRECV, *args], stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=60, env={**os.environ, "CI": "true", **(env or {})})


@pytest.mark.parametrize("args", [
    ["--help"], ["--version"], ["listen", "--help"], ["event", "--help"], ["send", "--help"],
    ["bench", "--help"], ["selftest", "--help"], ["selftest", "--list"],
    ["selftest", "--only", "ipv4", "--json"],
    ["send", "127.0.0.1", "9", "-c", "3", "--json"],
    ["listen", "-b", "127.0.0.1", "-p", "0", "--json", "-t", "5"],
    ["event", "-b", "127.0.0.1", "-p", "0", "--pcap", "-", "-t", "5"],
    ["bench", "-m", "python", "-c", "1000", "-r", "1", "-q"],
])
def test_stdout_on_a_full_disk_is_one_line_and_exit_one(args: list[str]) -> None:
    r = run_to_full(args)
    assert (r.returncode, r.stderr) == (1, FULL + "\n")


def test_the_completion_script_on_a_full_disk_is_one_line_and_exit_one() -> None:
    r = run_to_full([], env={"_WSKRECV_COMPLETE": "bash_source"})
    assert (r.returncode, r.stderr) == (1, FULL + "\n")


# -- captures that cannot be written --------------------------------------------------

RECEIVERS = [("listen", ("-n", "8")), ("event", ()), ("event", ("--pend", "--hold", "20"))]


def _send(port: int, n: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(n):
            s.sendto(b"%05d" % i + b"p" * 59, ("127.0.0.1", port))


def small_disk(limit: int) -> Callable[[], None]:
    """In the child: a file may grow to `limit` bytes, then writes fail (EFBIG), as on a
    disk that filled up; SIGXFSZ, which would kill it instead, is ignored. A process of its
    own: the limit would hold for the test's files too."""

    def setup() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return setup


@pytest.mark.parametrize(("command", "args"), RECEIVERS)
def test_a_capture_whose_disk_fills_ends_the_run_with_its_summary(
    command: str, args: tuple[str, ...], tmp_path: Path
) -> None:
    """The capture fails at a write during the run: one error line, exit 1, the summary
    says so (exit_status 1), and nothing held is leaked."""
    cap = tmp_path / "full.pcap"
    port = free_udp_port()
    with popen([WSKRECV, command, *args, "-b", "127.0.0.1", "-p", str(port), "-c", "1000",
                "--pcap", str(cap), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               text=True, preexec_fn=small_disk(4096)) as proc:
        assert '"type":"start"' in read_line(proc.stdout, 20)
        _send(port, 1000)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert err.splitlines() == [f"wskrecv: error: cannot write capture {cap}: File too large"]
    s = json.loads(out.splitlines()[-1])
    assert s["type"] == "summary" and s["exit_status"] == 1 and s["reason"] == "error"
    if command == "event":
        assert s["leaked"] == 0 and s["pool_in_use"] == 0
    assert len(rdpcap(str(cap))) > 0  # whole records up to the limit


@pytest.mark.parametrize(("path", "why"), [("/dev/full", "No space left on device"),
                                           ("/proc/version", "")])
def test_a_capture_path_that_takes_no_bytes_fails_before_anything_is_received(
    path: str, why: str
) -> None:
    """They were accepted, and failed only after the run, although an unwritable path is
    to fail before anything is received."""
    r = wskrecv("listen", "-b", "127.0.0.1", "-p", "0", "--pcap", path, "--json", "-t", "5")
    assert r.status == 1 and r.stdout == ""  # not even the start line
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"wskrecv: error: cannot write capture {path}: ") and why in line


def test_a_capture_fifo_nobody_reads_waits_no_longer_than_the_run(tmp_path: Path) -> None:
    """open() of a FIFO without a reader blocked for ever, deaf to -t and to Ctrl-C."""
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    r = wskrecv("listen", "-b", "127.0.0.1", "-p", "0", "--pcap", str(fifo), "-t", "0.5")
    assert r.status == 1
    assert r.stderr.splitlines() == [
        f"wskrecv: waiting for a reader of the capture FIFO {fifo}",
        f"wskrecv: error: cannot write capture {fifo}: no reader opened the FIFO within 0.5 s"]
    with popen([WSKRECV, "listen", "-b", "127.0.0.1", "-p", "0", "--pcap", str(fifo)],
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert "waiting for a reader" in read_line(proc.stderr, 20)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == (f"wskrecv: error: no reader opened the capture FIFO {fifo} "
                   "(stopped by SIGINT)\n")


def test_a_capture_fifo_whose_reader_goes_away_is_an_error_with_a_summary(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so that wskrecv's open returns
    try:
        def reader_goes(_: object) -> None:  # before anything is written
            nonlocal reader
            os.close(reader)
            reader = -1

        r = receive("listen", "-c", "5", "--pcap", str(fifo), send=[b"x"] * 5, then=reader_goes)
    finally:
        if reader >= 0:
            os.close(reader)
    assert r.status == 1
    assert r.stderr.splitlines() == [f"wskrecv: error: cannot write capture {fifo}: "
                                     "its reader went away"]
    assert r.objs[-1]["type"] == "summary" and r.objs[-1]["exit_status"] == 1


# -- capture paths ----------------------------------------------------------------------

def test_an_empty_capture_path_says_so() -> None:
    r = wskrecv("listen", "-b", "127.0.0.1", "-p", "0", "--pcap", "", "-t", "0.1")
    assert (r.returncode, r.stderr) == (2, "wskrecv: error: --pcap: empty path\n")


@pytest.mark.parametrize("path", ["/dev/stdout", "/proc/self/fd/1"])
def test_a_capture_path_that_is_stdout_is_refused_with_json(path: str) -> None:
    r = run_cli("listen", "-b", "127.0.0.1", "-p", "0", "--pcap", path, "--json", "-t", "0.1")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (f"wskrecv: error: --pcap {path} is standard output, where --json "
                        "writes: write the capture to a file\n")


def test_a_capture_path_that_is_stdout_by_another_name_is_a_clean_capture(
    tmp_path: Path,
) -> None:
    """`wskrecv listen --pcap out.pcap --dump > out.pcap`: the capture is standard output,
    so it is written as with --pcap - (the --dump lines go to stderr, not into it)."""
    out = tmp_path / "out.pcap"
    port = free_udp_port()
    with out.open("wb") as f, popen(
            [WSKRECV, "listen", "-b", "127.0.0.1", "-p", str(port), "-c", "3", "--dump",
             "--pcap", str(out)], stdout=f, stderr=subprocess.PIPE, text=True) as proc:
        assert "receiving on" in read_line(proc.stderr, 20)
        _send(port, 3)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    packets = rdpcap(str(out))
    assert [bytes(p[UDP].payload)[:5] for p in packets] == [b"00000", b"00001", b"00002"]
    assert err.count(" 64 bytes ") == 3  # the dump lines: on stderr, not in the capture


# -- stdout on a full disk during a run -------------------------------------------------

def test_dump_lines_on_a_full_disk_end_the_run_with_its_summary() -> None:
    """--dump lines on a full disk: one error line, exit 1, the summary on stderr."""
    port = free_udp_port()
    with open("/dev/full", "w") as full, popen(
            [WSKRECV, "listen", "-b", "127.0.0.1", "-p", str(port), "-c", "3", "--dump"],
            stdout=full, stderr=subprocess.PIPE, text=True) as proc:
        assert "receiving on" in read_line(proc.stderr, 20)
        _send(port, 3)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "Traceback" not in err and "Exception" not in err
    assert err.count("cannot write standard output") == 1
    assert err.splitlines()[-1] == FULL
    assert "summary (error)" in err
