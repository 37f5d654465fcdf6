"""MSG_BCAST and MSG_MCAST from the real packet's destination: real broadcast (to
127.255.255.255) and real multicast (a group joined on 127.0.0.1) on loopback, received by
the installed wskrecv on a socket the test bound and joined (--fd)."""

from __future__ import annotations

import json
import socket
import struct
import subprocess

import pytest

from tests.conftest import WSKRECV, read_line

GROUP = "239.255.14.14"


def _receiver_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    try:
        mreq = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton("127.0.0.1"))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    except OSError as exc:
        s.close()
        pytest.skip(f"cannot join {GROUP} on loopback: {exc}")
    return s


def _send(port: int, n_bcast: int, n_mcast: int, n_unicast: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        for i in range(n_bcast):
            tx.sendto(b"b%d" % i, ("127.255.255.255", port))
        for i in range(n_mcast):
            tx.sendto(b"m%d" % i, (GROUP, port))
        for i in range(n_unicast):
            tx.sendto(b"u%d" % i, ("127.0.0.1", port))


@pytest.mark.parametrize("command", [["listen", "-n", "4"], ["event"], ["event", "--pend"]])
def test_broadcast_and_multicast_are_flagged(command: list[str]) -> None:
    assert WSKRECV
    rx = _receiver_socket()
    port = rx.getsockname()[1]
    total = 5 + 7 + 3
    proc = subprocess.Popen(
        [WSKRECV, *command, "--fd", str(rx.fileno()), "--json", "--count", str(total),
         "--timeout", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=(rx.fileno(),),
    )
    try:
        start = read_line(proc.stdout, 20)
        assert start, proc.stderr.read()
        _send(port, 5, 7, 3)
        out, err = proc.communicate(timeout=30)
    finally:
        rx.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    s = json.loads(out.splitlines()[-1])
    assert s["type"] == "summary" and s["received"] == total
    assert s["broadcast"] == 5 and s["multicast"] == 7
    assert s["violations"] == 0
