"""The compiled batch reader against its pure-Python twin on real loopback sockets: the
same datagrams sent to two sockets, one read by each, give the same records (payload,
sender, destination address and interface; each a kernel timestamp), the same
truncation counts, and both see the kernel's drop counter."""

from __future__ import annotations

import socket
import time
from typing import Any, Optional

import pytest

from tests.conftest import wait_for
from wskrecv import core as cores
from wskrecv.generator.udp import IPV6_TCLASS
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


def _sender(family: int, tos: Optional[int], ttl: Optional[int]) -> socket.socket:
    s = socket.socket(family, socket.SOCK_DGRAM)
    v6 = family == socket.AF_INET6
    if tos is not None:
        s.setsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP,
                     IPV6_TCLASS if v6 else socket.IP_TOS, tos)
    if ttl is not None:
        s.setsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP,
                     socket.IPV6_UNICAST_HOPS if v6 else socket.IP_TTL, ttl)
    return s


# (bind, sender address, TOS, TTL) per sender; the dual-stack socket takes IPv4 too.
FIELD_CASES = {
    "127.0.0.1": [("127.0.0.1", 0xB8, 7), ("127.0.0.1", 0x8B, None), ("127.0.0.1", None, 200)],
    "::1": [("::1", 0x2E, 9), ("::1", None, None)],
    "::": [("::1", 0xB8, 3), ("127.0.0.1", 0x01, 250)],
}


@pytest.mark.parametrize("host", list(FIELD_CASES))
@pytest.mark.parametrize("mmsg_min", [1, 1000], ids=["recvmmsg", "recvmsg-loop"])
def test_both_readers_carry_and_count_each_packets_tos_and_ttl(host: str, mmsg_min: int) -> None:
    """--tos-ttl: every datagram's packet info carries its TOS (traffic class) and TTL (hop
    limit), as sent, and each value is counted, alike in both readers and in the
    provider's recvmsg loop (reads smaller than the reader's minimum)."""
    if ":" in host and not have_ipv6():
        pytest.skip("no IPv6 loopback")
    providers = [open_udp(host, 0, reader=core.reader, reader_min=mmsg_min, batch=16,
                          ip_fields=True) for core in (cores.pure(), NATIVE)]  # type: ignore[union-attr]
    senders = [(_sender(socket.AF_INET6 if ":" in address else socket.AF_INET, tos, ttl), address)
               for address, tos, ttl in FIELD_CASES[host]]
    try:
        records = []
        for p in providers:
            port = p.local_address[1]
            for s, address in senders:  # the same senders to both: the same records
                for i in range(5):
                    s.sendto(b"f%d" % i, (address, port))
            assert wait_for(lambda p=p: _queued(p), 10)
            records.append(_read_all(p, 5 * len(FIELD_CASES[host]), 16 if mmsg_min == 1 else 1))
        py, native = records
        assert [(d.data, d.remote, d.local) for d in py] == [(d.data, d.remote, d.local) for d in native]
        want_tos = [t if t is not None else 0 for _, t, _ in FIELD_CASES[host] for _ in range(5)]
        assert [d.local[2] for d in native] == want_tos
        ttls = [d.local[3] for d in native]
        for (_, _, ttl), got in zip(FIELD_CASES[host], [ttls[i:i + 5] for i in range(0, len(ttls), 5)]):
            assert got == [ttl] * 5 if ttl is not None else len(set(got)) == 1 and got[0] >= 1
        for p in providers:
            counts = [0] * 256
            for t in want_tos:
                counts[t] += 1
            assert p.tos_counts == counts
            assert sum(p.ttl_counts) == len(ttls) and p.ttl_counts[ttls[0]] >= 5
        assert providers[0].ttl_counts == providers[1].ttl_counts
    finally:
        for s, _ in senders:
            s.close()
        for p in providers:
            p.close()


def test_without_tos_ttl_packet_info_stays_address_and_interface() -> None:
    providers = _providers("127.0.0.1", batch=8)
    try:
        for p in providers:
            with _sender(socket.AF_INET, 0xB8, 5) as s:
                s.sendto(b"x", p.local_address[:2])
            assert wait_for(lambda p=p: _queued(p), 10)
            (d,) = _read_all(p, 1, 8)
            assert len(d.local) == 2 and sum(p.tos_counts) == 0 == sum(p.ttl_counts)
    finally:
        for p in providers:
            p.close()
