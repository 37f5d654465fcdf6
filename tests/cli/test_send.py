"""`wskrecv send` against real loopback sockets, in this process (tests/harness.py) but for
a signal, a missing capability (setpriv) and what a fresh interpreter imports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from typing import Optional

import pytest

from tests.conftest import WSKRECV, modules_after, skip_no_ipv6, wait_for
from tests.harness import Result, receive, wskrecv
from wskrecv import payload
from wskrecv.generator.raw import can_send_raw

pytestmark = pytest.mark.network


def needs_raw(test):  # type: ignore[no-untyped-def]
    """Root-only: raw IP sockets (skipped, with the reason, without the privilege)."""
    skip = pytest.mark.skipif(not can_send_raw(), reason="needs root or CAP_NET_RAW (raw sockets)")
    return pytest.mark.root(skip(test))


class Sink:
    """A plain loopback UDP socket that collects what arrives."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.got: list[tuple[bytes, tuple]] = []

    def drain(self) -> list[tuple[bytes, tuple]]:
        try:
            while True:
                self.got.append(self.sock.recvfrom(70000))
        except BlockingIOError:
            pass
        return self.got

    def wait(self, n: int, timeout: float = 10) -> list[tuple[bytes, tuple]]:
        wait_for(lambda: len(self.drain()) >= n, timeout)
        return self.got

    def seqs(self) -> list[int]:
        return [payload.parse_wskrecv(d).sequence for d, _ in self.got]  # type: ignore[union-attr]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def send_json(*args: str) -> dict:
    r = wskrecv("send", *args, "--json")
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    report = json.loads(line)
    assert report["type"] == "send"
    return report


def test_count_sends_numbered_datagrams_and_reports_them() -> None:
    with Sink() as sink:
        report = send_json("127.0.0.1", str(sink.port), "--count", "500", "--stream", "9")
        got = sink.wait(500)
    assert report["sent"] == 500 and report["bytes"] == 500 * 64 and report["reason"] == "count reached"
    assert report["datagrams_per_s"] > 0 and report["raw"] is False
    headers = [payload.parse_wskrecv(d) for d, _ in got]
    assert [h.sequence for h in headers] == list(range(500))  # type: ignore[union-attr]
    assert all(h.stream == 9 and h.valid and h.send_ns > 0 for h in headers)  # type: ignore[union-attr]


def test_rate_control_sends_every_sequence_in_order() -> None:
    with Sink() as sink:
        report = send_json("127.0.0.1", str(sink.port), "--count", "300", "--rate", "3000")
        sink.wait(300)
    assert report["sent"] == 300 and report["rate_requested"] == 3000
    assert sink.seqs() == list(range(300))


def test_size_mix_sockperf_and_none_formats() -> None:
    with Sink() as sink:
        send_json("127.0.0.1", str(sink.port), "-c", "6", "--size", "64,512,1400")
        send_json("127.0.0.1", str(sink.port), "-c", "2", "--size", "20", "--seq-format", "sockperf")
        send_json("127.0.0.1", str(sink.port), "-c", "2", "--size", "0", "--seq-format", "none")
        got = sink.wait(10)
    assert [len(d) for d, _ in got] == [64, 512, 1400] * 2 + [20, 20, 0, 0]
    assert [payload.parse_sockperf(d).sequence for d, _ in got[6:8]] == [0, 1]  # type: ignore[union-attr]


def test_several_sources_take_turns() -> None:
    with Sink() as sink:
        report = send_json("127.0.0.1", str(sink.port), "-c", "3",
                           "--src", "127.0.0.2", "--src", "127.0.0.3", "--src", "127.0.0.4")
        got = sink.wait(9)
    assert [a[0] for _, a in got] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"] * 3
    assert [s.split(":")[0] for s in report["sources"]] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    # Each source numbers its own datagrams from 0: one gap-free stream per source.
    assert sink.seqs() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_reorder_and_duplicate_patterns_arrive_as_reported() -> None:
    with Sink() as sink:
        report = send_json("127.0.0.1", str(sink.port), "-c", "20",
                           "--reorder", "5", "--duplicate", "7")
        sink.wait(22)
    assert sink.seqs() == [0, 1, 2, 3, 5, 4, 6, 6, 7, 8, 10, 9, 11, 12, 13, 13, 15, 14, 16, 17, 18, 19]
    assert (report["sent"], report["sequences"], report["reordered"], report["duplicated"]) == (22, 20, 3, 2)


@skip_no_ipv6
def test_ipv6_destination() -> None:
    with Sink("::1") as sink:
        report = send_json("::1", str(sink.port), "-c", "5", "--ttl", "3")
        sink.wait(5)
    assert report["destination"] == "::1" and sink.seqs() == list(range(5))


def test_human_report_is_one_line_on_stderr() -> None:
    with Sink() as sink:
        r = wskrecv("send", "127.0.0.1", str(sink.port), "-c", "10", "--duplicate", "5")
    assert r.returncode == 0 and r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"wskrecv send: sent 12 datagrams, 768 B to 127.0.0.1:{sink.port} in ")
    assert "2 duplicated" in line and line.endswith("(count reached)")


def test_a_listen_receiver_counts_what_send_sent() -> None:
    def send(r: Result) -> None:
        r.notes.append(send_json("127.0.0.1", str(r.address[1]), "-c", "2000"))  # type: ignore[index]

    r = receive("listen", "--count", "2000", "--outstanding", "8", then=send)
    (report,) = r.notes
    summary = r.summary
    assert r.status == 0, r.stderr
    assert summary["received"] == report["sent"] == 2000
    assert summary["bytes"] == report["bytes"]


def test_sigint_stops_a_run_with_its_report() -> None:
    assert WSKRECV
    with Sink() as sink:
        proc = subprocess.Popen(
            [WSKRECV, "send", "127.0.0.1", str(sink.port), "--duration", "60", "--rate", "200", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert wait_for(lambda: len(sink.drain()) >= 3, 20)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
        sink.drain()
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["reason"] == "interrupted" and report["sent"] == len(sink.got)


@pytest.mark.parametrize(
    ("args", "status", "needle"),
    [
        (["192.0.2.1", "9"], 2, "is not a loopback address"),
        (["localhost", "0"], 2, "PORT"),
        (["no-such-host.invalid", "9"], 2, "unknown destination"),
        (["127.0.0.1", "9", "--size", "10"], 2, "at least 36 bytes"),
        (["127.0.0.1", "9", "--size", "65508"], 2, "65507"),
        (["127.0.0.1", "9", "--size", "a-b"], 2, "--size"),
        (["127.0.0.1", "9", "--reorder", "1"], 2, "--reorder"),
        (["127.0.0.1", "9", "--duplicate", "x"], 2, "--duplicate"),
        (["127.0.0.1", "9", "--src", "10.0.0.1"], 2, "not a loopback address"),
        (["127.0.0.1", "9", "--src", "::1"], 2, "use a source of that family"),
        (["127.0.0.1", "9", "--fragment", "100"], 2, "multiple of 8"),
        (["127.0.0.1", "9", "--ttl", "0"], 2, "--ttl"),
        (["127.0.0.1", "9", "--rate", "-1"], 2, "--rate"),
        (["127.0.0.1", "9", "--stream", "3", "--seq-format", "none"], 2, "--stream 3"),
    ],
)
def test_bad_input_gets_one_line_and_its_exit_status(args: list[str], status: int, needle: str) -> None:
    r = wskrecv("send", *args)
    assert r.returncode == status
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0] and "Traceback" not in r.stderr


def test_a_source_port_in_use_is_an_os_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        r = wskrecv("send", "127.0.0.1", "9", "--src", "127.0.0.1", "--sport", str(port))
    assert r.returncode == 1
    assert r.stderr.strip().startswith(f"wskrecv: error: cannot bind source 127.0.0.1 port {port}")


def _without_cap_net_raw(*args: str) -> Optional[subprocess.CompletedProcess]:
    """The installed command in a process without CAP_NET_RAW."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        return None
    return subprocess.run(
        [setpriv, "--bounding-set", "-net_raw", "--", WSKRECV or "wskrecv", *args],
        capture_output=True, text=True, timeout=30,
    )


@pytest.mark.parametrize("option", ["--fragment", "--bad-checksum", "--raw"])
def test_raw_options_without_cap_net_raw_fail_with_one_line(option: str) -> None:
    extra = [option, "64"] if option == "--fragment" else [option]
    if can_send_raw():
        r = _without_cap_net_raw("send", "127.0.0.1", "9", *extra)
        if r is None:
            pytest.skip("cannot drop CAP_NET_RAW here (needs root and setpriv)")
    else:
        r = wskrecv("send", "127.0.0.1", "9", *extra)  # type: ignore[assignment]
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"wskrecv: error: {option} crafts raw IP packets")
    assert "CAP_NET_RAW" in lines[0]


def _scapy_modules_after(*argv: str) -> list[str]:
    return [m for m in modules_after(*argv) if m.split(".")[0] == "scapy"]


@pytest.mark.parametrize(
    "argv",
    [["listen", "--help"], ["send", "--help"], ["--help"], ["send", "127.0.0.1", "9", "-c", "3"]],
)
def test_scapy_is_not_imported_unless_raw_ip_is_sent(argv: list[str]) -> None:
    assert _scapy_modules_after(*argv) == []


@needs_raw
def test_a_raw_run_does_import_scapy() -> None:
    assert "scapy" in _scapy_modules_after("send", "127.0.0.1", "9", "-c", "1", "--raw")


@needs_raw
def test_raw_ipv4_fragments_are_reassembled_by_the_kernel() -> None:
    with Sink() as sink:
        report = send_json("127.0.0.1", str(sink.port), "-c", "5", "--size", "3000",
                           "--fragment", "1000", "--src", "127.0.0.7")
        got = sink.wait(5)
    assert report["raw"] is True and report["fragments"] == 20
    assert [len(d) for d, _ in got] == [3000] * 5
    assert all(a[0] == "127.0.0.7" for _, a in got)
    assert sink.seqs() == list(range(5))
    assert all(payload.parse_wskrecv(d).valid for d, _ in got)  # type: ignore[union-attr]


@needs_raw
@skip_no_ipv6
def test_raw_ipv6_fragments_are_reassembled_by_the_kernel() -> None:
    with Sink("::1") as sink:
        report = send_json("::1", str(sink.port), "-c", "3", "--size", "5000", "--fragment", "1232")
        got = sink.wait(3)
    assert report["fragments"] == 15 and [len(d) for d, _ in got] == [5000] * 3


def _udp_in_csum_errors() -> int:
    with open("/proc/net/snmp") as f:
        lines = [line.split() for line in f]
    for head, values in zip(lines, lines[1:]):
        if head[0] == "Udp:" and values[0] == "Udp:":
            return int(values[head.index("InCsumErrors")])
    raise AssertionError("no Udp InCsumErrors in /proc/net/snmp")


@needs_raw
def test_bad_checksums_are_dropped_by_the_kernel_and_counted() -> None:
    before = _udp_in_csum_errors()
    with Sink() as sink:
        report = send_json("127.0.0.1", str(sink.port), "-c", "25", "--bad-checksum")
        # A good datagram after the bad ones: once it is here, the bad ones were handled.
        send_json("127.0.0.1", str(sink.port), "-c", "1", "--raw")
        got = sink.wait(1)
    assert report["sent"] == 25 and report["bad_checksum"] is True
    assert len(got) == 1
    assert _udp_in_csum_errors() - before >= 25


@needs_raw
def test_raw_source_port_and_reorder_patterns() -> None:
    with Sink() as sink:
        report = send_json("127.0.0.1", str(sink.port), "-c", "6", "--raw", "--src", "127.0.0.8",
                           "--sport", "4321", "--reorder", "2", "--ttl", "5")
        got = sink.wait(6)
    assert {a for _, a in got} == {("127.0.0.8", 4321)}
    assert sink.seqs() == [0, 2, 1, 4, 3, 5] and report["reordered"] == 2
