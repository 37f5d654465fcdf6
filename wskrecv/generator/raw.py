"""The raw-IP transport: crafted packets written to an IPPROTO_RAW socket held open.

Needs root or CAP_NET_RAW. On Linux an IPPROTO_RAW socket sends the header as given
(IP_HDRINCL; for IPv6 implied since Linux 4.5) and fills in the IPv4 header checksum
and total length. The packets come from `wskrecv.generator.craft` (scapy).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable
from typing import Callable, Optional

from wskrecv.errors import OsFailure
from wskrecv.generator.spec import SendSpec

Fill = Callable[[int, int], bytearray]


class RawPrivilegeError(OsFailure):
    """A raw-IP send without root or CAP_NET_RAW. `field` is the SendSpec field that asked
    for raw IP ("fragment", "bad_checksum", "raw"); `words` says it in the caller's names
    for the fields (the command line's flags), str() in the field's own."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(self.words(str))

    def words(self, name: Callable[[str], str]) -> str:
        """The one-line message, the field called `name(field)`."""
        return (f"{name(self.field)} crafts raw IP packets, which needs root or CAP_NET_RAW: "
                f"{privilege_hint()}")


def privilege_hint(executable: Optional[str] = None, prefix: Optional[str] = None,
                   base_prefix: Optional[str] = None) -> str:
    """How to get CAP_NET_RAW safely. A capability set on an interpreter holds for every
    program it runs, so never the system's: only a venv's own copy (--copies), named by
    its real path (setcap follows no symlink: a symlinked venv's python IS the system's)."""
    exe = os.path.realpath(executable or sys.executable)
    prefix = os.path.realpath(prefix or sys.prefix)
    base = os.path.realpath(base_prefix or sys.base_prefix)
    if prefix != base and exe.startswith(prefix + os.sep):
        grant = f"sudo setcap cap_net_raw+ep {exe} (this venv's own interpreter)"
    else:
        grant = ("sudo setcap cap_net_raw+ep on the interpreter of a venv made for it "
                 "(python3 -m venv --copies DIR; DIR/bin/pip install wskrecv; "
                 "setcap on $(readlink -f DIR/bin/python3))")
    return (f"run it with sudo, or {grant}; never grant it to {exe} if other programs "
            "use that interpreter")


def open_raw_socket(family: int, field: str = "raw") -> socket.socket:
    """An IPPROTO_RAW socket, or OsFailure (RawPrivilegeError naming CAP_NET_RAW and
    `field`, the SendSpec field that asked for raw IP)."""
    try:
        return socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError:
        raise RawPrivilegeError(field) from None
    except OSError as exc:
        raise OsFailure(f"cannot open a raw socket: {exc.strerror or exc}") from None


def can_send_raw(family: int = socket.AF_INET) -> bool:
    """Whether this process may open raw IP sockets."""
    try:
        open_raw_socket(family).close()
    except OsFailure:
        return False
    return True


class RawTransport:
    """Sends scapy-crafted packets on an IPPROTO_RAW socket."""

    raw = True

    def __init__(self, spec: SendSpec) -> None:
        self.spec = spec
        self.family = spec.destination.family
        self.address = (spec.destination.host, 0)
        # The privilege check first: fail at once rather than after scapy loads.
        self.sock = open_raw_socket(self.family, spec.raw_reason)
        self._reserved: list[socket.socket] = []
        self.fragments_sent = 0
        try:
            from wskrecv.generator.craft import PacketCrafter

            addresses = list(spec.sources) or [
                "::1" if self.family == socket.AF_INET6 else "127.0.0.1"
            ]
            self.crafter = PacketCrafter(spec, [self._source(a) for a in addresses])
        except BaseException:
            self.close()
            raise

    def _source(self, address: str) -> tuple[str, int]:
        """(address, port): --sport, or a port reserved for the run by binding a UDP
        socket to it, so the crafted source is nobody else's."""
        if self.spec.sport:
            return address, self.spec.sport
        keep = socket.socket(self.family, socket.SOCK_DGRAM)
        self._reserved.append(keep)
        keep.bind((address, 0))
        return address, keep.getsockname()[1]

    @property
    def sources(self) -> list[tuple]:
        return list(self.crafter.sources)

    def burst(self, seqs: Iterable[int], fill: Fill, now_ns: Callable[[], int]) -> tuple[int, int]:
        """Send each sequence number's datagram; returns (datagrams, payload bytes)."""
        sendto = self.sock.sendto
        address = self.address
        packets = self.crafter.packets
        n = nbytes = 0
        for seq in seqs:
            data = fill(seq, now_ns())
            wire = packets(seq, data)
            for pkt in wire:
                sendto(pkt, address)
            if len(wire) > 1:
                self.fragments_sent += len(wire)
            n += 1
            nbytes += len(data)
        return n, nbytes

    def close(self) -> None:
        self.sock.close()
        for keep in self._reserved:
            keep.close()
