"""Plain UDP sockets held open for the whole run: the fast, unprivileged transport.

One socket per --src (bound to that loopback address, which needs no privilege: every
127.0.0.0/8 address is local on Linux); datagram `seq` leaves from source
`seq % len(sources)`. `sendto` on an unconnected socket never fails because nobody
listens (ICMP port-unreachable is reported to connected sockets only), so a run sends
exactly what it was asked to.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from typing import Callable

from wskrecv.errors import OsFailure
from wskrecv.generator.spec import SendSpec

Fill = Callable[[int, int], bytearray]


def _bind_error(where: tuple, exc: OSError) -> OsFailure:
    hint = " (ports below 1024 need root)" if exc.errno == errno.EACCES else ""
    return OsFailure(f"cannot bind source {where[0]} port {where[1]}: {exc.strerror or exc}{hint}")


class UdpTransport:
    """Sends payloads with `sendto` on SOCK_DGRAM sockets."""

    raw = False

    def __init__(self, spec: SendSpec) -> None:
        dest = spec.destination
        self.address = dest.sockaddr
        self.sockets: list[socket.socket] = []
        try:
            for src in spec.sources or (None,):
                sock = socket.socket(dest.family, socket.SOCK_DGRAM)
                self.sockets.append(sock)
                # Room for a few of the largest datagrams: a blocking sendto then never
                # fails with ENOBUFS on loopback.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
                if dest.family == socket.AF_INET:
                    # 127.255.255.255 is loopback's broadcast address: sending there needs
                    # SO_BROADCAST (EACCES without), and is how receivers see MSG_BCAST.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                if spec.ttl is not None:
                    if dest.family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, spec.ttl)
                    else:
                        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, spec.ttl)
                if src is not None or spec.sport:
                    where = (src or ("::" if dest.family == socket.AF_INET6 else "0.0.0.0"),
                             spec.sport)
                    try:
                        sock.bind(where)
                    except OSError as exc:
                        raise _bind_error(where, exc) from None
        except BaseException:
            self.close()
            raise

    @property
    def sources(self) -> list[tuple]:
        """(address, port) each socket sends from (bound on first send if not before)."""
        return [s.getsockname()[:2] for s in self.sockets]

    def burst(self, seqs: Iterable[int], fill: Fill, now_ns: Callable[[], int]) -> tuple[int, int]:
        """Send the payload of each sequence number; returns (datagrams, bytes)."""
        address = self.address
        n = nbytes = 0
        if len(self.sockets) == 1:
            sendto = self.sockets[0].sendto
            for seq in seqs:
                nbytes += sendto(fill(seq, now_ns()), address)
                n += 1
        else:
            sends = [s.sendto for s in self.sockets]
            k = len(sends)
            for seq in seqs:
                nbytes += sends[seq % k](fill(seq, now_ns()), address)
                n += 1
        return n, nbytes

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
