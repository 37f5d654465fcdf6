"""Scapy-crafted IP packets written to a raw socket held open (root or CAP_NET_RAW).

Scapy builds, once per (source, payload size), the whole IPv4 or IPv6 packet with its UDP
header, or its list of fragments for --fragment. Per datagram only the payload bytes, the
UDP checksum (computed here: scapy's per-packet build manages a few thousand packets a
second) and, for fragments, the IP identification are rewritten, and the bytes go to an
IPPROTO_RAW socket. On Linux such a socket sends the header as given (IP_HDRINCL; for
IPv6 implied since 4.5) and fills in the IPv4 header checksum and total length.

scapy is imported here, lazily, and nowhere on the receive path: it costs ~1.5 s.
"""

from __future__ import annotations

import itertools
import random
import socket
import struct
from collections.abc import Iterable
from typing import Any, Callable

from wskrecv.errors import OsFailure
from wskrecv.generator.spec import SendSpec

Fill = Callable[[int, int], bytearray]
_u16 = struct.Struct("!H")
_u32 = struct.Struct("!I")
IPV4_HEADER = 20
IPV6_HEADER = 40


def raw_privilege_error(reason: str) -> OsFailure:
    """The one-line error for a raw-IP option without the privilege."""
    return OsFailure(
        f"{reason} crafts raw IP packets, which needs root or CAP_NET_RAW "
        "(run with sudo, or grant it: setcap cap_net_raw+ep on the Python interpreter)"
    )


def open_raw_socket(family: int, reason: str = "--raw") -> socket.socket:
    """An IPPROTO_RAW socket, or OsFailure naming CAP_NET_RAW."""
    try:
        return socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError:
        raise raw_privilege_error(reason) from None
    except OSError as exc:
        raise OsFailure(f"cannot open a raw socket: {exc.strerror or exc}") from None


def can_send_raw(family: int = socket.AF_INET) -> bool:
    """Whether this process may open raw IP sockets."""
    try:
        open_raw_socket(family).close()
    except OsFailure:
        return False
    return True


def udp_checksum(pseudo: int, segment: Any) -> int:
    """RFC 768 checksum of a UDP `segment` (its checksum field zero) given the pseudo
    header as one integer. A big integer of 16-bit words is congruent, modulo 0xFFFF, to
    their one's-complement sum (2**16 = 1 mod 0xFFFF): one C-speed `int.from_bytes`."""
    n = int.from_bytes(segment, "big")
    if len(segment) & 1:
        n <<= 8  # pad the odd byte with a zero
    total = pseudo + n
    folded = total % 0xFFFF
    if folded == 0 and total:
        folded = 0xFFFF  # one's-complement "negative zero"
    checksum = ~folded & 0xFFFF
    return checksum or 0xFFFF  # 0 means "no checksum": send all ones instead


def wrong_checksum(correct: int) -> int:
    """A checksum that is neither right nor 0 (which IPv4 reads as "not computed")."""
    return correct ^ 0x0101 or 0x1234


def _scapy_layers() -> tuple[Any, Any]:
    """scapy's IPv4 and IPv6 layer modules, imported on first use."""
    import logging

    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # no start-up chatter
    from scapy.layers import inet, inet6

    return inet, inet6


class _Template:
    """One datagram shape: the unfragmented packet, and the fragments' headers."""

    __slots__ = ("packet", "header_len", "pseudo", "fragments", "id_offset")

    def __init__(self, packet: bytearray, header_len: int, pseudo: int,
                 fragments: list[tuple[bytearray, int, int]], id_offset: int) -> None:
        self.packet = packet  # IP header + UDP header + payload
        self.header_len = header_len
        self.pseudo = pseudo
        self.fragments = fragments  # (IP header [+ fragment header], start, end in UDP)
        self.id_offset = id_offset  # where the identification sits in a fragment header


class RawTransport:
    """Sends scapy-crafted packets on an IPPROTO_RAW socket."""

    raw = True

    def __init__(self, spec: SendSpec) -> None:
        self.spec = spec
        dest = spec.destination
        self.family = dest.family
        self.address = (dest.host, 0)
        # The privilege check first: without it, fail at once rather than after scapy loads.
        self.sock = open_raw_socket(self.family, spec.raw_reason)
        self._reserved: list[socket.socket] = []
        try:
            self._inet, self._inet6 = _scapy_layers()
            self.source_ports = [self._source(src) for src in self._source_addresses()]
        except BaseException:
            self.close()
            raise
        self._templates: dict[tuple[int, int], _Template] = {}
        self._ids = itertools.count(random.randrange(1 << 16))
        self.fragments_sent = 0

    def _source_addresses(self) -> list[str]:
        if self.spec.sources:
            return list(self.spec.sources)
        return ["::1" if self.family == socket.AF_INET6 else "127.0.0.1"]

    def _source(self, address: str) -> tuple[str, int]:
        """(address, port): --sport, or a port reserved by binding a UDP socket to it for
        the run, so no other socket there receives replies meant for nobody."""
        if self.spec.sport:
            return address, self.spec.sport
        keep = socket.socket(self.family, socket.SOCK_DGRAM)
        self._reserved.append(keep)
        keep.bind((address, 0))
        return address, keep.getsockname()[1]

    @property
    def sources(self) -> list[tuple]:
        return list(self.source_ports)

    def _build(self, source: int, size: int) -> _Template:
        """Craft the packet (and fragments) for `size` payload bytes with scapy."""
        inet, inet6 = self._inet, self._inet6
        spec = self.spec
        src, sport = self.source_ports[source]
        dst, dport = spec.destination.host, spec.destination.port
        udp = inet.UDP(sport=sport, dport=dport, chksum=0)
        body = b"\0" * size
        if self.family == socket.AF_INET6:
            ip = inet6.IPv6(src=src, dst=dst, hlim=64 if spec.ttl is None else spec.ttl)
            packet = bytearray(bytes(ip / udp / body))
            header_len = IPV6_HEADER
            pseudo = int.from_bytes(
                socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                + _u32.pack(8 + size) + b"\0\0\0\x11", "big")
        else:
            ip = inet.IP(src=src, dst=dst, ttl=64 if spec.ttl is None else spec.ttl, id=0)
            packet = bytearray(bytes(ip / udp / body))
            header_len = IPV4_HEADER
            pseudo = int.from_bytes(
                socket.inet_aton(src) + socket.inet_aton(dst) + b"\0\x11" + _u16.pack(8 + size),
                "big")
        fragments: list[tuple[bytearray, int, int]] = []
        id_offset = 0
        if spec.fragment is not None and 8 + size > spec.fragment:
            fragments, id_offset = self._fragment(ip, udp / body, spec.fragment)
        return _Template(packet, header_len, pseudo, fragments, id_offset)

    def _fragment(self, ip: Any, udp: Any, size: int) -> tuple[list[tuple[bytearray, int, int]], int]:
        """Headers and UDP byte ranges of each fragment, as scapy cuts them."""
        inet, inet6 = self._inet, self._inet6
        out = []
        if self.family == socket.AF_INET6:
            frag = inet6.IPv6ExtHdrFragment(id=0)
            # fragment6's size counts the whole packet: IPv6 header + fragment header + data.
            for f in inet6.fragment6(ip / frag / udp, size + IPV6_HEADER + 8):
                raw = bytes(f)
                header = bytearray(raw[: IPV6_HEADER + 8])
                start = f[inet6.IPv6ExtHdrFragment].offset * 8
                out.append((header, start, start + len(raw) - len(header)))
            return out, IPV6_HEADER + 4
        for f in inet.fragment(ip / udp, fragsize=size):
            raw = bytes(f)
            header = bytearray(raw[:IPV4_HEADER])
            start = f.frag * 8
            out.append((header, start, start + len(raw) - IPV4_HEADER))
        return out, 4

    def _template(self, source: int, size: int) -> _Template:
        key = (source, size)
        t = self._templates.get(key)
        if t is None:
            t = self._templates[key] = self._build(source, size)
        return t

    def packets(self, seq: int, data: bytearray) -> list[bytes]:
        """The wire packets of one datagram: one, or its fragments."""
        t = self._template(seq % len(self.source_ports), len(data))
        packet = t.packet
        hl = t.header_len
        packet[hl + 8:] = data
        packet[hl + 6: hl + 8] = b"\0\0"
        checksum = udp_checksum(t.pseudo, memoryview(packet)[hl:])
        if self.spec.bad_checksum:
            checksum = wrong_checksum(checksum)
        _u16.pack_into(packet, hl + 6, checksum)
        if not t.fragments:
            return [bytes(packet)]
        ident = next(self._ids)
        segment = memoryview(packet)[hl:]
        out = []
        for header, start, end in t.fragments:
            if self.family == socket.AF_INET6:
                _u32.pack_into(header, t.id_offset, ident & 0xFFFFFFFF)
            else:
                _u16.pack_into(header, t.id_offset, ident & 0xFFFF)
            out.append(bytes(header) + segment[start:end])
        return out

    def burst(self, seqs: Iterable[int], fill: Fill, now_ns: Callable[[], int]) -> tuple[int, int]:
        """Send each sequence number's datagram; returns (datagrams, payload bytes)."""
        sendto = self.sock.sendto
        address = self.address
        packets = self.packets
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
