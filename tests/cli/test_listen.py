"""`wskrecv listen` against datagrams sent from the test: in this process (tests/harness.py),
on real loopback sockets; as the installed command where a process is needed (a signal,
a run that says nothing before it receives, `python -m wskrecv`)."""

from __future__ import annotations

import signal
import socket
from typing import Any

import pytest

from tests.conftest import Wskrecv, free_udp_port, read_line, skip_no_ipv6
from tests.harness import Result, receive, wskrecv

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")


def summary_of(objs: list[dict]) -> dict:
    summaries = [o for o in objs if o["type"] == "summary"]
    assert len(summaries) == 1, objs
    return summaries[0]


def test_count_three_receives_three_and_exits_zero() -> None:
    r = receive("listen", "--count", "3", send=[b"a", b"bb", b"ccc"])
    assert r.status == 0, r.stderr
    assert r.start["mode"] == "irp" and r.start["port"] > 0 and r.start["rcvbuf"] > 0
    s = r.summary
    assert s["received"] == 3 and s["bytes"] == 6
    assert s["truncated"] == 0 and s["kernel_drops"] == 0 and s["violations"] == 0
    assert s["reason"] == "count reached"


def test_the_start_says_who_completes_the_requests(receive_core: Any) -> None:
    r = receive("listen", "--count", "1", send=[b"x"])
    who = "native" if receive_core.completer is not None else "Python"
    assert r.start["completions"] == who
    plain = receive("listen", "--count", "1", send=[b"x"], json_mode=False)
    assert f"65535-byte buffers, {who} completions" in plain.stderr.splitlines()[0]


def test_summary_schema_has_the_documented_fields() -> None:
    r = receive("listen", "--count", "1", send=[b"x"])
    s = r.summary
    for key in ("mode", "received", "bytes", "truncated", "kernel_drops", "duration_s",
                "violations", "outstanding", "completions", "cancellations"):
        assert key in s, key
    assert isinstance(s["duration_s"], float)
    assert set(r.start) >= {"type", "mode", "address", "port", "rcvbuf"}


def test_count_stops_exactly_and_leaves_later_datagrams_unread() -> None:
    r = receive("listen", "--count", "5", "--outstanding", "8",
                send=[bytes([i]) for i in range(20)])
    assert r.status == 0
    assert r.summary["received"] == 5
    assert r.summary["unread_at_exit"] == 15


def test_truncation_into_a_small_buffer() -> None:
    r = receive("listen", "--count", "2", "--buffer-size", "10", "--dump",
                send=[b"0123456789ABCDEF", b"short"])
    assert r.status == 0
    dumps = r.of_type("datagram")
    assert [d["length"] for d in dumps] == [10, 5]
    assert [d["truncated"] for d in dumps] == [True, False]
    assert bytes.fromhex(dumps[0]["data"]) == b"0123456789"
    s = r.summary
    assert s["truncated"] == 1 and s["bytes"] == 15


def test_dump_reports_the_source_address_and_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as src:
        src.bind(("127.0.0.1", 0))
        r = receive("listen", "--count", "1", "--dump", send=[b"\x00\xff"], source=src)
        src_addr = src.getsockname()
    (d,) = r.of_type("datagram")
    assert (d["src"], d["sport"]) == src_addr
    assert d["data"] == "00ff" and d["timestamp_ns"] > 0


@skip_no_ipv6
def test_ipv6_loopback() -> None:
    r = receive("listen", "--count", "2", bind="::1", send=[b"one", b"two"])
    assert r.start["address"] == "::1"
    assert r.status == 0 and r.summary["received"] == 2


def test_a_burst_of_a_thousand_with_many_outstanding() -> None:
    r = receive("listen", "--count", "1000", "--outstanding", "16",
                send=[i.to_bytes(4, "big") for i in range(1000)])
    s = r.summary
    assert r.status == 0 and s["received"] == 1000 and s["kernel_drops"] == 0


def test_timeout_before_count_exits_three_with_a_summary() -> None:
    r = receive("listen", "--count", "5", "--timeout", "0.5", send=[b"only one"])
    assert r.status == 3
    s = r.summary
    assert s["received"] == 1 and s["reason"] == "deadline passed"


def test_duration_ends_the_run_with_status_zero() -> None:
    r = receive("listen", "--duration", "0.3")
    assert r.status == 0 and r.summary["reason"] == "duration over"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_cancels_outstanding_irps_and_prints_the_summary(signum: int) -> None:
    with Wskrecv("listen", "--outstanding", "4", "--interval", "0.05") as w:
        w.send([b"a", b"b"])
        # Wait until the receiver has counted both (an interval line says so).
        while True:
            line = read_line(w.proc.stdout, 10)
            if '"received":2' in line:
                break
        w.signal(signum)
        status, objs, _ = w.finish()
    assert status == 0
    s = summary_of(objs)
    assert s["received"] == 2
    assert s["cancellations"] == 4 and s["outstanding"] == 0
    assert s["reason"] == ("interrupted" if signum == signal.SIGINT else "terminated")


def test_human_output_has_interval_lines_and_a_summary() -> None:
    """The start line, then (the first datagram in) an interval line, then the second
    datagram and the summary: each sent once the line before it is written."""
    lines: list[str] = []

    def next_datagram(r: Result, line: str) -> None:
        lines.append(line)
        if len(lines) == 1:
            assert "dg/s" in line and "\x1b" not in line  # the first interval line
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"b", r.address)  # type: ignore[arg-type]

    r = receive("listen", "--interval", "0.1", "--count", "2", json_mode=False, send=[b"a"],
                each_line=next_datagram)
    assert r.status == 0
    assert r.stderr.startswith(f"wskrecv irp: receiving on 127.0.0.1:{r.address[1]},")  # type: ignore[index]
    assert "summary (count reached)" in r.stderr and "received     2 datagrams" in r.stderr
    assert "\x1b" not in r.stderr


def test_quiet_prints_only_the_summary() -> None:
    port = free_udp_port()
    with Wskrecv("listen", "--count", "1", "--quiet", port=port, expect_start=False) as w:
        w.send([b"x"])
        status, objs, err = w.finish()
    assert status == 0
    assert [o["type"] for o in objs] == ["summary"] and err == ""


@pytest.mark.parametrize(
    ("args", "status", "needle"),
    [
        (["--port", "70000"], 2, "--port"),
        (["--port", "-1"], 2, "--port"),
        (["--port", "abc"], 2, "--port"),
        (["--buffer-size", "0"], 2, "--buffer-size"),
        (["--buffer-size", "70000"], 2, "--buffer-size"),
        (["--outstanding", "0"], 2, "--outstanding"),
        (["--bind", "no-such-host.invalid"], 2, "unknown address"),
        (["--bind", "192.0.2.1", "--port", "0"], 1, "not an address of this host"),
        (["--nope"], 2, "No such option"),
    ],
)
def test_bad_input_gets_one_line_and_its_exit_status(args: list[str], status: int, needle: str) -> None:
    r = wskrecv("listen", *args)
    assert r.status == status
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0] and "Traceback" not in r.stderr


def test_address_in_use_exits_one() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        r = wskrecv("listen", "--bind", "127.0.0.1", "--port", str(port))
    assert r.status == 1
    assert r.stderr.strip() == f"wskrecv: error: cannot bind 127.0.0.1:{port}: Address already in use"


def test_python_dash_m_and_version() -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "wskrecv", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "wskrecv" in r.stdout
