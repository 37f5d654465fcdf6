"""One captured frame -> the UDP datagram in it: link layer, IPv4/IPv6, UDP.

The readable reference of the decoding. `scan.py`'s batch scanner and its compiled twin
(csrc/capture.c) decode the common case (a whole, unfragmented UDP datagram) exactly as
`decode` does and hand every other frame here.

Link types (the LINKTYPE_ values of pcap and pcapng, tcpdump.org/linktypes.html):
Ethernet (1, with up to two 802.1Q/802.1ad tags), raw IP (101; 228 IPv4 and 229 IPv6),
BSD loopback (0 NULL, the family in the capturing host's byte order; 108 LOOP, in network
order), Linux cooked capture v1 (113, SLL) and v2 (276, SLL2).

What the receiver would have been given: the UDP payload, bounded by the UDP length (an
Ethernet frame's padding is not payload). A frame cut by the capture's snap length whose
headers are whole is a *truncated* datagram (as MSG_TRUNC: counted, its captured prefix
sequenced when the header fits). UDP checksums are not checked: loopback captures carry
checksums the kernel never filled in (offload), and a receiver never sees a datagram the
kernel rejected anyway.
"""

from __future__ import annotations

import socket
import struct
from typing import Callable, NamedTuple, Optional, Union

# LINKTYPE_ values this module decodes.
ETHERNET = 1
NULL = 0
LOOP = 108
RAW = 101
IPV4 = 228
IPV6 = 229
SLL = 113
SLL2 = 276
LINKTYPES = {ETHERNET: "Ethernet", NULL: "BSD loopback", LOOP: "OpenBSD loopback",
             RAW: "raw IP", IPV4: "raw IPv4", IPV6: "raw IPv6", SLL: "Linux cooked (SLL)",
             SLL2: "Linux cooked v2 (SLL2)"}

# Why a frame yields no datagram: the index of its count in a tally (a list of ints, so
# the compiled scanner updates the same one).
NOT_IP, NOT_UDP, OTHER_PORT, MALFORMED = range(4)
SKIP_REASONS = ("not_ip", "not_udp", "other_port", "malformed")

_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
# Address families a BSD loopback header carries: AF_INET everywhere; AF_INET6 is 10
# (Linux), 24 (OpenBSD, NetBSD), 28 (FreeBSD), 30 (macOS).
_LOOPBACK_FAMILIES = (2, 10, 24, 28, 30)
# IPv6 extension headers a UDP datagram may sit behind (RFC 8200 4.1; 51 AH too).
_IPV6_EXTENSIONS = (0, 43, 60, 51, 135, 139, 140, 253, 254)
_IPV6_FRAGMENT = 44
_UDP = 17
MAX_EXTENSIONS = 8  # extension headers walked before a frame counts as malformed

_U16 = struct.Struct("!H")
_U32_BE = struct.Struct(">I")
_U32_LE = struct.Struct("<I")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_UDP_HEADER = struct.Struct("!HHHH")


class Udp(NamedTuple):
    """A UDP datagram found in a frame: addresses as a socket gives them ((host, port),
    or (host, port, 0, 0) for IPv6), the captured payload and its length on the wire
    (larger than the payload when the capture cut the frame)."""

    src: tuple
    dst: tuple
    data: bytes
    wire_length: int


class Fragment(NamedTuple):
    """A piece of a fragmented IP datagram, for fragments.Reassembler. `key` identifies
    its datagram; `offset` is in bytes; `more` is the More Fragments flag; `proto` the
    upper protocol (IPv6: the fragment header's Next Header); `head` the addresses as
    bytes (family, source, destination) for the datagram once whole; `cut`: the capture
    cut this fragment short (its datagram cannot be rebuilt)."""

    key: tuple
    offset: int
    more: bool
    proto: int
    data: bytes
    head: tuple
    cut: bool


Decoded = Union[Udp, Fragment, int]  # an int: a skip reason (NOT_IP...)
# Makes a socket address from (IP version, packed address, port): `endpoint`, or a memo of it.
Endpoint = Callable[[int, bytes, int], tuple]


def network_layer(linktype: int, frame: bytes) -> tuple[int, int]:
    """(offset of the IP header, IP version 4 or 6), or (-1, reason) when the frame
    carries no IP. Raises ValueError for a link type this module does not decode."""
    n = len(frame)
    if linktype == ETHERNET:
        off, ethertype = 14, _U16.unpack_from(frame, 12)[0] if n >= 14 else -1
        for _ in range(2):
            if ethertype in _VLAN_TAGS and n >= off + 4:
                ethertype = _U16.unpack_from(frame, off + 2)[0]
                off += 4
        return _by_ethertype(ethertype, off, n)
    if linktype in (RAW, IPV4, IPV6):
        off = 0
    elif linktype in (NULL, LOOP):
        if n < 4:
            return -1, MALFORMED
        be, le = _U32_BE.unpack_from(frame)[0], _U32_LE.unpack_from(frame)[0]
        family = be if linktype == LOOP else (le if le < 256 else be)
        if family not in _LOOPBACK_FAMILIES:
            return -1, NOT_IP
        off = 4
    elif linktype == SLL:
        return _by_ethertype(_U16.unpack_from(frame, 14)[0] if n >= 16 else -1, 16, n)
    elif linktype == SLL2:
        return _by_ethertype(_U16.unpack_from(frame, 0)[0] if n >= 20 else -1, 20, n)
    else:
        raise ValueError(f"link type {linktype}")
    if off >= n:
        return -1, MALFORMED
    version = frame[off] >> 4
    if version not in (4, 6) or (linktype == IPV4 and version != 4) or (linktype == IPV6 and version != 6):
        return -1, NOT_IP
    return off, version


def _by_ethertype(ethertype: int, off: int, n: int) -> tuple[int, int]:
    if ethertype < 0:
        return -1, MALFORMED
    if ethertype == _ETHERTYPE_IPV4:
        return (off, 4) if off < n else (-1, MALFORMED)
    if ethertype == _ETHERTYPE_IPV6:
        return (off, 6) if off < n else (-1, MALFORMED)
    return -1, NOT_IP


def decode(linktype: int, frame: bytes, wire_length: int, port: int = 0,
           ep: Optional[Endpoint] = None) -> Decoded:
    """The UDP datagram in `frame` (captured bytes of a `wire_length`-byte frame), a
    Fragment to reassemble, or why there is none (a skip reason). `port`: only
    datagrams to this destination port (0: any); `ep` makes the addresses (default
    `endpoint`)."""
    off, version = network_layer(linktype, frame)
    if off < 0:
        return version
    cut = wire_length - len(frame)  # bytes the capture left out (0: none)
    if version == 4:
        return _ipv4(frame, off, cut, port, ep or endpoint)
    return _ipv6(frame, off, cut, port, ep or endpoint)


def _ipv4(frame: bytes, off: int, cut: int, port: int, ep: Endpoint) -> Decoded:
    if len(frame) < off + 20:
        return MALFORMED
    vihl, _tos, total, ident, flags_frag, _ttl, proto, _sum, src, dst = _IPV4.unpack_from(frame, off)
    ihl = (vihl & 15) * 4
    if ihl < 20 or total < ihl or len(frame) < off + ihl:
        return MALFORMED
    more, offset = bool(flags_frag & 0x2000), (flags_frag & 0x1FFF) * 8
    if more or offset:
        end = off + total
        return Fragment((4, src, dst, ident, proto), offset, more, proto,
                        bytes(frame[off + ihl:end]), (4, src, dst),
                        end > len(frame))
    if proto != _UDP:
        return NOT_UDP
    return udp(frame, off + ihl, off + total, cut, 4, src, dst, port, ep)


def _ipv6(frame: bytes, off: int, cut: int, port: int, ep: Endpoint) -> Decoded:
    if len(frame) < off + 40:
        return MALFORMED
    _vtf, plen, nxt, _hops, src, dst = _IPV6.unpack_from(frame, off)
    if plen == 0:  # a jumbogram (RFC 2675): no receiver of ours takes one
        return MALFORMED
    end = off + 40 + plen
    pos = off + 40
    for _ in range(MAX_EXTENSIONS + 1):
        if nxt == _UDP:
            return udp(frame, pos, end, cut, 6, src, dst, port, ep)
        if nxt == _IPV6_FRAGMENT:
            if len(frame) < pos + 8 or end < pos + 8:
                return MALFORMED
            following, field, ident = frame[pos], _U16.unpack_from(frame, pos + 2)[0], \
                _U32_BE.unpack_from(frame, pos + 4)[0]
            more, offset = bool(field & 1), field & 0xFFF8
            if not more and not offset:  # an atomic fragment (RFC 6946): not fragmented
                nxt, pos = following, pos + 8
                continue
            return Fragment((6, src, dst, ident), offset, more, following,
                            bytes(frame[pos + 8:end]), (6, src, dst), end > len(frame))
        if nxt not in _IPV6_EXTENSIONS:
            return NOT_UDP
        if len(frame) < pos + 2:
            return MALFORMED
        size = (frame[pos + 1] + 2) * 4 if nxt == 51 else (frame[pos + 1] + 1) * 8
        nxt, pos = frame[pos], pos + size
        if pos > end:
            return MALFORMED
    return MALFORMED


def udp(frame: bytes, pos: int, end: int, cut: int, version: int, src: bytes, dst: bytes,
        port: int, ep: Endpoint) -> Decoded:
    """The UDP header at `pos` of an IP payload that ends at `end` (on the wire; the
    frame may hold less when `cut` bytes were left out of the capture)."""
    if len(frame) < pos + 8 or end < pos + 8 or end > len(frame) + cut:
        return MALFORMED
    sport, dport, length, _sum = _UDP_HEADER.unpack_from(frame, pos)
    if length < 8 or pos + length > end:
        return MALFORMED
    if port and dport != port:
        return OTHER_PORT
    start = pos + 8
    stop = pos + length
    data = bytes(frame[start:min(stop, len(frame))])
    return Udp(ep(version, src, sport), ep(version, dst, dport), data, length - 8)


def endpoint(version: int, packed: bytes, port: int) -> tuple:
    """A packed address and port as a socket reports its peer: (host, port) for IPv4,
    (host, port, flowinfo, scope_id) for IPv6 (flowinfo and scope are not captured: 0)."""
    if version == 4:
        return socket.inet_ntop(socket.AF_INET, packed), port
    return socket.inet_ntop(socket.AF_INET6, packed), port, 0, 0


def reassembled(head: tuple, proto: int, payload: bytes, port: int,
                ep: Optional[Endpoint] = None) -> Decoded:
    """The datagram in a whole reassembled IP payload (`head` as a Fragment's). An IPv6
    payload may still begin with extension headers after the fragment header."""
    version, src, dst = head
    if version == 6 and proto != _UDP:
        # Walk what follows the fragment header as _ipv6 would, on a synthetic header.
        fake = _IPV6.pack(6 << 28, len(payload), proto, 64, src, dst) + payload
        if len(payload) > 0xFFFF:
            return MALFORMED
        found = _ipv6(fake, 0, 0, port, ep or endpoint)
        return MALFORMED if isinstance(found, Fragment) else found  # a fragment in a fragment
    if proto != _UDP:
        return NOT_UDP
    return udp(payload, 0, len(payload), 0, version, src, dst, port, ep or endpoint)


def describe_linktype(linktype: int) -> str:
    """A link type as people know it: 'Ethernet (1)', 'link type 147'."""
    name = LINKTYPES.get(linktype)
    return f"{name} ({linktype})" if name else f"link type {linktype}"


__all__ = [
    "LINKTYPES",
    "MALFORMED",
    "NOT_IP",
    "NOT_UDP",
    "OTHER_PORT",
    "SKIP_REASONS",
    "Fragment",
    "Udp",
    "decode",
    "describe_linktype",
    "endpoint",
    "network_layer",
    "reassembled",
    "udp",
]
