"""Both UDP readers (recvmmsg batches and the portable recvmsg loop) against real loopback
sockets: the same Datagram records, in order, with their ancillary data."""

from __future__ import annotations

import select
import socket
import subprocess
import sys

import pytest

from tests.conftest import skip_no_ipv6, wait_for
from wskrecv.provider import mmsg, open_udp
from wskrecv.provider.udp import UdpProvider

READERS = [
    pytest.param(
        "recvmmsg",
        marks=pytest.mark.skipif(mmsg._recvmmsg is None, reason="no recvmmsg on this platform"),
    ),
    "recvmsg",
]


@pytest.fixture(params=READERS)
def reader(request: pytest.FixtureRequest) -> str:
    return request.param


def open_with(reader: str, host: str = "127.0.0.1", **kw: object) -> UdpProvider:
    p = open_udp(host, 0, use_mmsg=reader == "recvmmsg", **kw)  # type: ignore[arg-type]
    assert p.reader == reader
    return p


def drain(provider: UdpProvider, want: int, timeout: float = 10) -> list:
    got: list = []
    wait_for(lambda: got.extend(provider.read(want - len(got))) or len(got) >= want, timeout)
    return got


def test_sizes_and_order_survive_batching(reader: str) -> None:
    p = open_with(reader)
    sizes = [0, 1, 63, 64, 1472, 9000, 65507] * 40
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i, n in enumerate(sizes):
                s.sendto(i.to_bytes(2, "big") * (n // 2) + b"x" * (n % 2), p.local_address)
        got = drain(p, len(sizes))
    finally:
        p.close()
    assert [len(d.data) for d in got] == sizes
    assert all(d.data[:2] == i.to_bytes(2, "big") for i, d in enumerate(got) if len(d.data) >= 2)


def test_remote_local_and_timestamp(reader: str) -> None:
    p = open_with(reader, "0.0.0.0")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            for dst in ("127.0.0.3", "127.0.0.4"):
                s.sendto(b"hi", (dst, p.local_address[1]))
            a, b = drain(p, 2)
            assert a.remote == b.remote == s.getsockname()
    finally:
        p.close()
    assert (a.local[0], b.local[0]) == ("127.0.0.3", "127.0.0.4")
    assert a.local[1] >= 1 and a.timestamp_ns > 1_600_000_000 * 10**9
    assert b.timestamp_ns >= a.timestamp_ns


@skip_no_ipv6
def test_ipv6_and_dual_stack(reader: str) -> None:
    p = open_with(reader, "::")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6, socket.socket(
            socket.AF_INET, socket.SOCK_DGRAM
        ) as s4:
            s6.sendto(b"six", ("::1", p.local_address[1]))
            s4.sendto(b"four", ("127.0.0.1", p.local_address[1]))
            six, four = drain(p, 2)
    finally:
        p.close()
    assert six.data == b"six" and six.remote[0] == "::1" and len(six.remote) == 4
    assert six.local[0] == "::1"
    assert four.remote[0] == "::ffff:127.0.0.1" and four.local[0] in ("127.0.0.1", "::ffff:127.0.0.1")
    assert six.timestamp_ns and four.timestamp_ns


def test_a_read_returns_at_most_the_batch_and_what_was_asked(reader: str) -> None:
    p = open_with(reader, batch=4)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(10):
                s.sendto(bytes([i]), p.local_address)
        assert select.select([p.sock], [], [], 10)[0]
        first = p.read(100)
        assert 1 <= len(first) <= 4
        got = first + drain(p, 10 - len(first))
        assert [d.data for d in got] == [bytes([i]) for i in range(10)]
        assert p.read(0) == [] and p.read(5) == []
    finally:
        p.close()


def test_drops_show_in_rxq_ovfl_on_the_next_datagram(reader: str) -> None:
    p = open_with(reader, rcvbuf=4096)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(500):
                s.sendto(b"x" * 64, p.local_address)
            queued = drain(p, 500, timeout=0.5)
            assert p.kernel_drops > 0 and len(queued) + p.kernel_drops == 500
            assert p.rxq_ovfl == 0  # queued before the queue filled: no counter yet
            s.sendto(b"after", p.local_address)
            (after,) = drain(p, 1)
        assert after.data == b"after"
        assert p.rxq_ovfl == p.kernel_drops
    finally:
        p.close()


def test_env_var_forces_the_portable_loop() -> None:
    code = "from wskrecv.provider import open_udp; p = open_udp('127.0.0.1', 0); print(p.reader)"
    env = {"WSKRECV_NO_RECVMMSG": "1", "PATH": ""}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.stdout.strip() == "recvmsg", r.stderr
