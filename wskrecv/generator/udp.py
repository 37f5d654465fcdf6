"""Plain UDP sockets held open for the whole run: the fast, unprivileged transport.

One socket per --src (bound to that loopback address, which needs no privilege: every
127.0.0.0/8 address is local on Linux); datagram `seq` leaves from source
`seq % len(sources)`. Each socket is connected to the destination, so the kernel reports
an ICMP port unreachable (nobody listens) as ECONNREFUSED on the next send: the transport
counts those in `refused` and sends the datagram again (the error was about an earlier
one), so a run still sends exactly what it was asked to and says how much was refused.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from typing import Callable

from wskrecv.errors import OsFailure
from wskrecv.generator.spec import SendSpec

IPV6_TCLASS = getattr(socket, "IPV6_TCLASS", 67)  # Linux's value where Python lacks it

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
                if spec.tos is not None:
                    if dest.family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_TCLASS, spec.tos)
                    else:
                        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, spec.tos)
                if src is not None or spec.sport:
                    where = (src or ("::" if dest.family == socket.AF_INET6 else "0.0.0.0"),
                             spec.sport)
                    try:
                        sock.bind(where)
                    except OSError as exc:
                        raise _bind_error(where, exc) from None
                # Connected: the real source address is known at once (the report names
                # it) and ICMP errors come back as ECONNREFUSED.
                sock.connect(self.address)
        except BaseException:
            self.close()
            raise
        self.refused = 0  # ICMP port unreachable reports: datagrams nobody received

    @property
    def sources(self) -> list[tuple]:
        """(address, port) each socket sends from (bound on first send if not before)."""
        return [s.getsockname()[:2] for s in self.sockets]

    def burst(self, seqs: Iterable[int], fill: Fill, now_ns: Callable[[], int]) -> tuple[int, int]:
        """Send the payload of each sequence number; returns (datagrams, bytes)."""
        n = nbytes = 0
        sends = [s.send for s in self.sockets]
        k = len(sends)
        send = sends[0]
        for seq in seqs:
            if k > 1:
                send = sends[seq % k]
            data = fill(seq, now_ns())
            try:
                nbytes += send(data)
            except ConnectionRefusedError:
                # An earlier datagram of this socket was refused; the error is consumed
                # now and this one not sent yet.
                self.refused += 1
                nbytes += self._send_again(send, data)
            n += 1
        return n, nbytes

    def _send_again(self, send: Callable[[bytes], int], data: bytes) -> int:
        """Send `data` after a refusal: only a refusal of the datagram before it (if that
        ICMP arrived meanwhile) can fail it again."""
        for _ in range(2):
            try:
                return send(data)
            except ConnectionRefusedError:
                self.refused += 1
        return send(data)

    def finish(self) -> None:
        """Collect refusals still pending (the last datagrams' ICMP errors)."""
        for sock in self.sockets:
            try:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED:
                    self.refused += 1
            except OSError:
                pass

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
