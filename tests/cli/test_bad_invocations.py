"""Bad command lines, one table for every subcommand: each gives exactly one line on
stderr naming the problem, the documented exit status, no traceback, and leaves no file
behind (a --pcap or --save path given alongside stays uncreated). In this process
(tests/harness.py), but for descriptors named by number (--fd N: in this process N could
be one of pytest's own) and an ordinary user (setpriv)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import WSKRECV, unprivileged
from tests.harness import Result, wskrecv

USAGE, ERROR = 2, 1
RECEIVE = ["listen", "event"]

# (arguments after the subcommand, exit status, text the one stderr line must contain).
# {busy} is a UDP port held open by the test; {out} a path in an empty directory.
RECEIVE_CASES = [
    (["-p", "-1"], USAGE, "'-1' is too small: at least 0"),
    (["-p", "65536"], USAGE, "'65536' is too large: at most 65,535"),
    (["-p", "abc"], USAGE, "'abc' is not an integer"),
    (["--rcvbuf", "0"], USAGE, "--rcvbuf"),
    (["-b", "no-such-host.invalid"], USAGE, "unknown address 'no-such-host.invalid'"),
    (["-b", "192.0.2.1", "-p", "0"], ERROR, "not an address of this host"),
    (["-b", "127.0.0.1", "-p", "{busy}"], ERROR, "Address already in use"),
    (["--count", "0"], USAGE, "--count"),
    (["--interval", "0.001"], USAGE, "--interval"),
    (["--live", "--quiet"], USAGE, "--live and --quiet contradict"),
    (["--pcap", "-", "--json"], USAGE, "--pcap - and --json"),
    (["--seq-format", "bogus"], USAGE, "--seq-format"),
    (["--max-loss", "101"], USAGE, "--max-loss"),
    (["--fd", "99"], USAGE, "descriptor 99 is not open"),
    (["--fd", "0"], USAGE, "descriptor 0 is not a socket"),
    (["--fd", "3", "-b", "127.0.0.1"], USAGE, "drop --bind/--port"),
    (["--pcap", "/nonexistent-dir/x.pcap", "-b", "127.0.0.1", "-p", "0"], ERROR,
     "cannot write capture /nonexistent-dir/x.pcap"),
    (["--pcap", "{out}/", "-b", "127.0.0.1", "-p", "0"], ERROR, "cannot write capture"),
    (["--no-such-option"], USAGE, "No such option"),
]
OTHER_CASES = [
    (["listen", "--buffer-size", "0"], USAGE, "--buffer-size"),
    (["listen", "--buffer-size", "70000"], USAGE, "'70000' is too large: at most 65,535 bytes"),
    (["listen", "--outstanding", "0"], USAGE, "--outstanding"),
    (["event", "--pool", "0"], USAGE, "--pool"),
    (["event", "--batch", "0"], USAGE, "--batch"),
    (["event", "--batch", "2000"], USAGE, "--batch"),
    (["event", "--hold", "5"], USAGE, "--hold needs --pend or --keep-every"),
    (["event", "--reject-every", "1"], USAGE, "--reject-every"),
    (["bench", "-c", "0"], USAGE, "--count"),
    (["bench", "-s", "70000"], USAGE, "--size"),
    (["bench", "-m", "nope"], USAGE, "--mode"),
    (["bench", "--rcvbuf", "10"], USAGE, "--rcvbuf applies to --live only"),
    (["bench", "--compare", "/nonexistent.json"], USAGE, "cannot read /nonexistent.json"),
    (["bench", "-q", "--save", "{out}/no/such/dir.json"], ERROR, "cannot save results"),
    (["send", "127.0.0.1", "65536"], USAGE, "'65536' is too large: at most 65,535"),
    (["send", "127.0.0.1", "abc"], USAGE, "'abc' is not an integer"),
    (["send", "127.0.0.1", "0"], USAGE, "'0' is too small: at least 1"),
    (["send", "192.0.2.1", "5000"], USAGE, "not a loopback address"),
    (["send", "no-such-host.invalid", "5000"], USAGE, "unknown destination"),
    (["send", "127.0.0.1", "5000", "-s", "0"], USAGE, "--size 0"),
    (["send", "127.0.0.1", "5000", "-s", "70000"], USAGE, "--size 70000"),
    (["send", "127.0.0.1", "5000", "-r", "-5"], USAGE, "'-5' is too small: at least 0"),
    (["send", "127.0.0.1", "5000", "--src", "192.0.2.1"], USAGE, "not a loopback address"),
    (["send", "127.0.0.1", "5000", "--src", "127.0.0.1", "--sport", "{busy}"], ERROR,
     "Address already in use"),
    (["send", "127.0.0.1", "5000", "--fragment", "7"], USAGE, "--fragment 7"),
    (["send", "127.0.0.1", "5000", "--reorder", "0"], USAGE, "--reorder"),
    (["send", "127.0.0.1", "5000", "--stream", "3", "--seq-format", "sockperf"], USAGE,
     "--stream 3"),
    (["selftest", "--timeout", "0"], USAGE, "--timeout"),
    (["selftest", "--only", "no-such-case"], USAGE, "no selftest case matches"),
    (["nosuchcommand"], USAGE, "No such command"),
]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def run_bad(args: list[str], tmp_path: Path, busy: int) -> subprocess.CompletedProcess | Result:
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.format(busy=busy, out=out) for a in args]
    if "--fd" in argv:
        result: subprocess.CompletedProcess | Result = subprocess.run(
            [WSKRECV, *argv], capture_output=True, text=True, timeout=30, cwd=out,
            env={**os.environ, "CI": "true"})
    else:
        result = wskrecv(*argv, cwd=str(out), env={"CI": "true"})
    assert list(out.iterdir()) == [], "a failed run left a file behind"
    return result


def assert_one_line(result: subprocess.CompletedProcess | Result, status: int, text: str) -> None:
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert text in lines[0], lines[0]
    assert result.returncode == status, (result.returncode, lines[0])
    assert result.stdout == ""


@pytest.mark.network
@pytest.mark.parametrize("command", RECEIVE)
@pytest.mark.parametrize(("args", "status", "text"), RECEIVE_CASES,
                         ids=[" ".join(c[0]) for c in RECEIVE_CASES])
def test_bad_receive_invocation(
    command: str, args: list[str], status: int, text: str, tmp_path: Path, busy_port: int
) -> None:
    # Alongside, a capture path in the cwd: a failing run must not create it.
    extra = [] if "--pcap" in args else ["--pcap", "capture.pcap"]
    result = run_bad([command, *args, *extra, "-t", "0.2"], tmp_path, busy_port)
    assert_one_line(result, status, text)


@pytest.mark.network
@pytest.mark.parametrize(("args", "status", "text"), OTHER_CASES,
                         ids=[" ".join(c[0]) for c in OTHER_CASES])
def test_bad_invocation(
    args: list[str], status: int, text: str, tmp_path: Path, busy_port: int
) -> None:
    result = run_bad(args, tmp_path, busy_port)
    assert_one_line(result, status, text)


@pytest.mark.network
@pytest.mark.parametrize("command", RECEIVE)
def test_an_open_file_is_not_a_socket_for_fd(command: str, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with open(path) as f:  # this process's own descriptor: in this process
        result = wskrecv(command, "--fd", str(f.fileno()))
    assert_one_line(result, USAGE, "is not a socket")


@pytest.mark.network
@pytest.mark.parametrize("command", RECEIVE)
def test_privileged_port_as_an_ordinary_user(command: str, tmp_path: Path) -> None:
    start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    if start <= 80:
        pytest.skip(f"ports from {start} up need no privilege on this host")
    result = subprocess.run([*unprivileged(), WSKRECV, command, "-b", "127.0.0.1", "-p", "80",
                             "-t", "1"], capture_output=True, text=True, timeout=30, cwd="/")
    assert_one_line(result, ERROR, "ports below 1024 need root or CAP_NET_BIND_SERVICE")
