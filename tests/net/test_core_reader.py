"""The compiled batch reader against its pure-Python twin on real loopback sockets: the
same datagrams sent to two sockets, one read by each, give the same records (payload,
sender, destination address and interface; each a kernel timestamp), the same
truncation counts, and both see the kernel's drop counter."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from tests.conftest import wait_for
from wskrecv import core as cores
from wskrecv.provider.udp import open_udp
from wskrecv.selftest.host import have_ipv6

pytestmark = pytest.mark.network
NATIVE = cores.native()


@pytest.fixture(autouse=True)
def once(native_core: cores.Core) -> None:
    if native_core.reader is None:
        pytest.skip("the native core (or recvmmsg) is not available here")


def _providers(host: str, **kw: Any) -> list[Any]:
    out = []
    for core in (cores.pure(), NATIVE):
        assert core is not None
        out.append(open_udp(host, 0, reader=core.reader, reader_min=1, **kw))
    return out


def _queued(p: Any) -> bool:
    try:
        p.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    return True


def _read_all(p: Any, expect: int, batch: int) -> list:
    got: list = []
    deadline = time.monotonic() + 10
    while len(got) < expect and time.monotonic() < deadline:
        got += p.read(batch)
    return got


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_both_readers_give_the_same_records(host: str) -> None:
    if host == "::1" and not have_ipv6():
        pytest.skip("no IPv6 loopback")
    providers = _providers(host, batch=16)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    senders = [socket.socket(family, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        sizes = [0, 1, 35, 36, 64, 1400, 9000, 65000]
        payloads = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
        payloads += [b"x%d" % i for i in range(40)]
        for p in providers:
            for i, data in enumerate(payloads):
                senders[i % 3].sendto(data, p.local_address[:2])
        records = []
        for p in providers:
            assert wait_for(lambda p=p: _queued(p), 10)
            records.append(_read_all(p, len(payloads), 16))
        py, native = records
        assert len(py) == len(native) == len(payloads)
        for a, b in zip(py, native):
            assert type(a) is type(b)
            assert (a.data, a.remote, a.local) == (b.data, b.remote, b.local)
            assert isinstance(a.timestamp_ns, int) and isinstance(b.timestamp_ns, int)
            assert abs(a.timestamp_ns - b.timestamp_ns) < 60 * 10**9
        assert [r.data for r in native] == payloads
        assert {r.remote[1] for r in native} == {s.getsockname()[1] for s in senders}
    finally:
        for s in senders:
            s.close()
        for p in providers:
            p.close()


def test_both_readers_truncate_and_count_alike() -> None:
    providers = _providers("127.0.0.1", batch=8)
    readers = [p._mmsg.__class__(p.sock, 8, 100) for p in providers]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for p in providers:
            for n in (50, 100, 101, 5000):
                tx.sendto(b"t" * n, p.local_address)
        got = []
        for p, r in zip(providers, readers):
            assert wait_for(lambda p=p: _queued(p), 10)
            out: list = []
            deadline = time.monotonic() + 10
            while len(out) < 4 and time.monotonic() < deadline:
                out += r.read(8)
            got.append(out)
    try:
        assert [len(d.data) for d in got[0]] == [len(d.data) for d in got[1]] == [50, 100, 100, 100]
        assert readers[0].truncated == readers[1].truncated == 2
    finally:
        for p in providers:
            p.close()


def test_both_readers_see_the_kernel_drop_counter() -> None:
    providers = _providers("127.0.0.1", rcvbuf=4096, batch=64)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for p in providers:
                for _ in range(400):  # far more than 4 KiB of queue holds
                    tx.sendto(b"d" * 200, p.local_address)
                assert wait_for(lambda p=p: _queued(p), 10)
                while p.read(64):
                    pass
                # A datagram queued after the drops carries their count (SO_RXQ_OVFL).
                tx.sendto(b"after", p.local_address)
                assert wait_for(lambda p=p: _queued(p), 10)
                assert [d.data for d in p.read(64)] == [b"after"]
                assert p.rxq_ovfl > 0
    finally:
        for p in providers:
            p.close()


def test_reading_a_closed_socket_is_an_os_error() -> None:
    assert NATIVE is not None and NATIVE.reader is not None
    p = open_udp("127.0.0.1", 0, reader=NATIVE.reader, reader_min=1)
    p.close()
    with pytest.raises((OSError, ValueError)):
        p.read(8)
