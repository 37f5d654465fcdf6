"""`wskrecv listen` run as the installed command against datagrams sent from the test."""

from __future__ import annotations

import signal
import socket

import pytest

from tests.conftest import Wskrecv, free_udp_port, read_line, run_cli, skip_no_ipv6

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")


def summary_of(objs: list[dict]) -> dict:
    summaries = [o for o in objs if o["type"] == "summary"]
    assert len(summaries) == 1, objs
    return summaries[0]


def test_count_three_receives_three_and_exits_zero() -> None:
    with Wskrecv("listen", "--count", "3") as w:
        assert w.start["mode"] == "irp" and w.start["port"] > 0 and w.start["rcvbuf"] > 0
        w.send([b"a", b"bb", b"ccc"])
        status, objs, err = w.finish()
    assert status == 0, err
    s = summary_of(objs)
    assert s["received"] == 3 and s["bytes"] == 6
    assert s["truncated"] == 0 and s["kernel_drops"] == 0 and s["violations"] == 0
    assert s["reason"] == "count reached"


def test_summary_schema_has_the_documented_fields() -> None:
    with Wskrecv("listen", "--count", "1") as w:
        w.send([b"x"])
        status, objs, _ = w.finish()
    s = summary_of(objs)
    for key in ("mode", "received", "bytes", "truncated", "kernel_drops", "duration_s",
                "violations", "outstanding", "completions", "cancellations"):
        assert key in s, key
    assert isinstance(s["duration_s"], float)
    assert set(w.start) >= {"type", "mode", "address", "port", "rcvbuf"}


def test_count_stops_exactly_and_leaves_later_datagrams_unread() -> None:
    with Wskrecv("listen", "--count", "5", "--outstanding", "8") as w:
        w.send([bytes([i]) for i in range(20)])
        status, objs, _ = w.finish()
    assert status == 0
    assert summary_of(objs)["received"] == 5


def test_truncation_into_a_small_buffer() -> None:
    with Wskrecv("listen", "--count", "2", "--buffer-size", "10", "--dump") as w:
        w.send([b"0123456789ABCDEF", b"short"])
        status, objs, _ = w.finish()
    assert status == 0
    dumps = [o for o in objs if o["type"] == "datagram"]
    assert [d["length"] for d in dumps] == [10, 5]
    assert [d["truncated"] for d in dumps] == [True, False]
    assert bytes.fromhex(dumps[0]["data"]) == b"0123456789"
    s = summary_of(objs)
    assert s["truncated"] == 1 and s["bytes"] == 15


def test_dump_reports_the_source_address_and_port() -> None:
    with Wskrecv("listen", "--count", "1", "--dump") as w, socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM
    ) as src:
        src.bind(("127.0.0.1", 0))
        src_addr = src.getsockname()
        w.send([b"\x00\xff"], source=src)
        status, objs, _ = w.finish()
    (d,) = [o for o in objs if o["type"] == "datagram"]
    assert (d["src"], d["sport"]) == src_addr
    assert d["data"] == "00ff" and d["timestamp_ns"] > 0


@skip_no_ipv6
def test_ipv6_loopback() -> None:
    with Wskrecv("listen", "--count", "2", bind="::1") as w:
        assert w.start["address"] == "::1"
        w.send([b"one", b"two"])
        status, objs, _ = w.finish()
    assert status == 0 and summary_of(objs)["received"] == 2


def test_a_burst_of_a_thousand_with_many_outstanding() -> None:
    with Wskrecv("listen", "--count", "1000", "--outstanding", "16") as w:
        w.send([i.to_bytes(4, "big") for i in range(1000)])
        status, objs, _ = w.finish()
    s = summary_of(objs)
    assert status == 0 and s["received"] == 1000 and s["kernel_drops"] == 0


def test_timeout_before_count_exits_three_with_a_summary() -> None:
    with Wskrecv("listen", "--count", "5", "--timeout", "0.5") as w:
        w.send([b"only one"])
        status, objs, _ = w.finish()
    assert status == 3
    s = summary_of(objs)
    assert s["received"] == 1 and s["reason"] == "deadline passed"


def test_duration_ends_the_run_with_status_zero() -> None:
    with Wskrecv("listen", "--duration", "0.3") as w:
        status, objs, _ = w.finish()
    assert status == 0 and summary_of(objs)["reason"] == "duration over"


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
    port = free_udp_port()
    with Wskrecv("listen", "--interval", "0.1", "--count", "2", json_mode=False, port=port) as w:
        first = read_line(w.proc.stderr, 10)
        assert f"receiving on 127.0.0.1:{port}," in first
        w.send([b"a"])
        interval = read_line(w.proc.stderr, 10)
        assert "dg/s" in interval and "\x1b" not in interval
        w.send([b"b"])
        status, _, err = w.finish()
    assert status == 0
    assert "summary (count reached)" in err and "received     2 datagrams" in err
    assert "\x1b" not in err


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
    r = run_cli("listen", *args)
    assert r.returncode == status
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0] and "Traceback" not in r.stderr


def test_address_in_use_exits_one() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        r = run_cli("listen", "--bind", "127.0.0.1", "--port", str(port))
    assert r.returncode == 1
    assert r.stderr.strip() == f"wskrecv: error: cannot bind 127.0.0.1:{port}: Address already in use"


def test_python_dash_m_and_version() -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "wskrecv", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "wskrecv" in r.stdout
