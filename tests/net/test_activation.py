"""Adopting inherited sockets and reading systemd's LISTEN_FDS, against real sockets."""

from __future__ import annotations

import os
import socket

import pytest

from tests.net.test_provider_udp import drain
from wskrecv.errors import UsageError
from wskrecv.provider.activation import listen_fds, open_receive_socket
from wskrecv.provider.udp import adopt_fd


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, []),
        ({"LISTEN_FDS": "2"}, []),  # no LISTEN_PID: not for us
        ({"LISTEN_FDS": "2", "LISTEN_PID": "99"}, []),  # for another process
        ({"LISTEN_FDS": "1", "LISTEN_PID": "42"}, [3]),
        ({"LISTEN_FDS": "3", "LISTEN_PID": "42"}, [3, 4, 5]),
        ({"LISTEN_FDS": "0", "LISTEN_PID": "42"}, []),
    ],
)
def test_listen_fds(environ: dict[str, str], expected: list[int]) -> None:
    assert list(listen_fds(environ, 42)) == expected


@pytest.mark.parametrize(
    "environ", [{"LISTEN_FDS": "x", "LISTEN_PID": "42"}, {"LISTEN_FDS": "-1", "LISTEN_PID": "42"}]
)
def test_malformed_listen_fds_is_a_usage_error(environ: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="LISTEN_FDS"):
        listen_fds(environ, 42)


def test_adopted_socket_receives_with_ancillary_data_and_closing_closes_it() -> None:
    original = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    original.bind(("127.0.0.1", 0))
    address = original.getsockname()
    fd = original.detach()  # the descriptor now belongs to the provider alone
    p = adopt_fd(fd)
    try:
        assert p.local_address == address and p.inherited_fd == fd
        assert not os.get_inheritable(fd)
        assert p.rcvbuf_requested is None  # the parent's receive buffer is left alone
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"hi", address)
        (d,) = drain(p, 1)
        assert d.data == b"hi" and d.local is not None and d.timestamp_ns is not None
    finally:
        p.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_a_rejected_descriptor_is_left_open() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as unbound:
        with pytest.raises(UsageError, match="not bound"):
            adopt_fd(unbound.fileno())
        os.fstat(unbound.fileno())  # still open: adoption failed without closing it


def test_without_fd_or_activation_the_address_is_bound() -> None:
    p = open_receive_socket("127.0.0.1", 0, None, environ={}, pid=1)
    try:
        assert p.inherited_fd is None and p.local_address[1] > 0
    finally:
        p.close()
