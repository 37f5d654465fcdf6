"""Scapy crafts the packets of raw-IP runs: once per shape, patched per datagram.

Scapy builds, once per (source, payload size), the whole IPv4 or IPv6 packet with its UDP
header, or its list of fragments for --fragment. Per datagram only the payload bytes, the
UDP checksum (computed here: scapy's own per-packet build manages a few thousand packets
a second) and, for fragments, the IP identification are rewritten. No socket here:
`wskrecv.generator.raw` writes the bytes.

scapy is imported on first use, and never on the receive path: it costs ~1.5 s.
"""

from __future__ import annotations

import itertools
import random
import socket
import struct
from typing import Any

from wskrecv.generator.spec import SendSpec

_u16 = struct.Struct("!H")
_u32 = struct.Struct("!I")
IPV4_HEADER = 20
IPV6_HEADER = 40
FRAGMENT_HEADER = 8  # IPv6 fragment extension header
UDP_HEADER = 8


def scapy_layers() -> tuple[Any, Any]:
    """scapy's IPv4 and IPv6 layer modules, imported on first use."""
    import logging

    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # no start-up chatter
    from scapy.layers import inet, inet6

    return inet, inet6


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


class PacketCrafter:
    """The wire packets of each datagram of a raw run, for `sources` [(address, port)]."""

    def __init__(self, spec: SendSpec, sources: list[tuple[str, int]]) -> None:
        self._inet, self._inet6 = scapy_layers()
        self.spec = spec
        self.family = spec.destination.family
        self.sources = sources
        self._templates: dict[tuple[int, int], _Template] = {}
        # Fragments of one datagram share an identification; datagrams must not.
        self._ids = itertools.count(random.randrange(1 << 16))

    def packets(self, seq: int, data: bytearray) -> list[bytes]:
        """The wire packets of datagram `seq` carrying `data`: one, or its fragments."""
        t = self._template(seq % len(self.sources), len(data))
        packet = t.packet
        hl = t.header_len
        packet[hl + UDP_HEADER:] = data
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

    def _template(self, source: int, size: int) -> _Template:
        key = (source, size)
        t = self._templates.get(key)
        if t is None:
            t = self._templates[key] = self._build(source, size)
        return t

    def _build(self, source: int, size: int) -> _Template:
        """Craft the packet (and fragments) for `size` payload bytes with scapy."""
        inet, inet6 = self._inet, self._inet6
        spec = self.spec
        src, sport = self.sources[source]
        dst, dport = spec.destination.host, spec.destination.port
        ttl = 64 if spec.ttl is None else spec.ttl
        udp = inet.UDP(sport=sport, dport=dport, chksum=0)
        body = b"\0" * size
        length = _u16.pack(UDP_HEADER + size)
        if self.family == socket.AF_INET6:
            ip = inet6.IPv6(src=src, dst=dst, hlim=ttl, tc=spec.tos or 0)
            header_len = IPV6_HEADER
            pseudo = int.from_bytes(
                socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                + b"\0\0" + length + b"\0\0\0\x11", "big")
        else:
            ip = inet.IP(src=src, dst=dst, ttl=ttl, id=0, tos=spec.tos or 0)
            header_len = IPV4_HEADER
            pseudo = int.from_bytes(
                socket.inet_aton(src) + socket.inet_aton(dst) + b"\0\x11" + length, "big")
        packet = bytearray(bytes(ip / udp / body))
        fragments: list[tuple[bytearray, int, int]] = []
        id_offset = 0
        if spec.fragment is not None and UDP_HEADER + size > spec.fragment:
            fragments, id_offset = self._fragment(ip, udp / body, spec.fragment)
        return _Template(packet, header_len, pseudo, fragments, id_offset)

    def _fragment(self, ip: Any, udp: Any, size: int) -> tuple[list[tuple[bytearray, int, int]], int]:
        """Headers and UDP byte ranges of each fragment, as scapy cuts them."""
        inet, inet6 = self._inet, self._inet6
        out = []
        if self.family == socket.AF_INET6:
            frag = inet6.IPv6ExtHdrFragment(id=0)
            # fragment6's size counts the whole packet: IPv6 header + fragment header + data.
            for f in inet6.fragment6(ip / frag / udp, size + IPV6_HEADER + FRAGMENT_HEADER):
                raw = bytes(f)
                header = bytearray(raw[: IPV6_HEADER + FRAGMENT_HEADER])
                start = f[inet6.IPv6ExtHdrFragment].offset * 8
                out.append((header, start, start + len(raw) - len(header)))
            return out, IPV6_HEADER + 4
        for f in inet.fragment(ip / udp, fragsize=size):
            raw = bytes(f)
            header = bytearray(raw[:IPV4_HEADER])
            start = f.frag * 8
            out.append((header, start, start + len(raw) - IPV4_HEADER))
        return out, 4
