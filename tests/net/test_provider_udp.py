"""The UDP provider against real sockets on loopback."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import skip_no_ipv6, wait_for
from wskrecv.errors import OsFailure, UsageError
from wskrecv.provider import open_udp


def sender(family: int = socket.AF_INET) -> socket.socket:
    return socket.socket(family, socket.SOCK_DGRAM)


def drain(provider, want: int, timeout: float = 10) -> list:  # type: ignore[no-untyped-def]
    got: list = []
    wait_for(lambda: got.extend(provider.read(want - len(got))) or len(got) >= want, timeout)
    return got


def test_port_zero_picks_a_free_port_and_reports_it() -> None:
    p = open_udp("127.0.0.1", 0)
    try:
        assert p.local_address[0] == "127.0.0.1"
        assert p.local_address[1] > 0
    finally:
        p.close()


def test_a_thousand_datagrams_fired_at_a_fresh_socket_all_arrive() -> None:
    p = open_udp("127.0.0.1", 0)
    try:
        with sender() as s:
            for i in range(1000):
                s.sendto(i.to_bytes(4, "big") * 16, p.local_address)
        got = drain(p, 1000)
        assert len(got) == 1000
        assert [int.from_bytes(d.data[:4], "big") for d in got] == list(range(1000))
        assert p.kernel_drops == 0
    finally:
        p.close()


def test_remote_address_pktinfo_and_kernel_timestamp_come_from_the_socket() -> None:
    p = open_udp("0.0.0.0", 0)
    try:
        with sender() as s:
            s.bind(("127.0.0.1", 0))
            s.sendto(b"hi", ("127.0.0.3", p.local_address[1]))
            (d,) = drain(p, 1)
            assert d.data == b"hi"
            assert d.remote == s.getsockname()
        assert d.local is not None and d.local[0] == "127.0.0.3"
        assert d.local[1] >= 1  # the loopback interface index
        assert d.timestamp_ns is not None and d.timestamp_ns > 1_600_000_000 * 10**9
    finally:
        p.close()


@skip_no_ipv6
def test_ipv6_loopback() -> None:
    p = open_udp("::1", 0)
    try:
        with sender(socket.AF_INET6) as s:
            s.sendto(b"six", p.local_address[:2])
        (d,) = drain(p, 1)
        assert d.data == b"six" and d.remote[0] == "::1"
        assert d.local is not None and d.local[0] == "::1"
    finally:
        p.close()


@skip_no_ipv6
def test_dual_stack_any_receives_ipv4_too() -> None:
    p = open_udp("::", 0)
    try:
        with sender() as s:
            s.sendto(b"four", ("127.0.0.1", p.local_address[1]))
        (d,) = drain(p, 1)
        assert d.data == b"four" and d.remote[0] == "::ffff:127.0.0.1"
    finally:
        p.close()


def test_read_takes_no_more_than_asked_and_leaves_the_rest_queued() -> None:
    p = open_udp("127.0.0.1", 0)
    try:
        with sender() as s:
            for i in range(5):
                s.sendto(bytes([i]), p.local_address)
        first = drain(p, 2)
        assert [d.data for d in first] == [b"\0", b"\1"]
        rest = drain(p, 3)
        assert [d.data for d in rest] == [b"\2", b"\3", b"\4"]
    finally:
        p.close()


def test_kernel_drops_are_counted_when_the_queue_overflows() -> None:
    p = open_udp("127.0.0.1", 0, rcvbuf=4096)
    try:
        with sender() as s:
            for _ in range(2000):
                s.sendto(b"x" * 64, p.local_address)
        assert p.kernel_drops > 0
        got = drain(p, 2000, timeout=1)
        assert len(got) + p.kernel_drops == 2000
    finally:
        p.close()


def test_default_rcvbuf_asks_for_a_large_buffer_and_reports_the_grant() -> None:
    p = open_udp("127.0.0.1", 0)
    try:
        assert p.rcvbuf_requested == 64 << 20
        assert p.rcvbuf >= 1 << 20
        assert p.rcvbuf == p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    finally:
        p.close()


def test_unknown_address_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown address"):
        open_udp("no-such-host.invalid", 0)


def test_address_in_use_is_an_os_failure() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(OsFailure, match="Address already in use"):
            open_udp("127.0.0.1", taken.getsockname()[1])


def test_address_of_another_host_is_an_os_failure() -> None:
    with pytest.raises(OsFailure, match="not an address of this host"):
        open_udp("192.0.2.1", 0)
