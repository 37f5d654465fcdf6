"""The capture file formats: classic pcap and pcapng, their headers and records.

pcap (tcpdump.org/manpages/pcap-savefile.5.html): a 24-byte file header whose magic
says the byte order and the timestamp resolution (0xa1b2c3d4 microseconds, 0xa1b23c4d
nanoseconds), one link type for the file, then 16-byte record headers (seconds,
fraction, captured length, length on the wire) each followed by its frame.

pcapng (IETF draft-ietf-opsawg-pcapng): blocks. A Section Header Block sets the byte
order; Interface Description Blocks each give an interface its link type, snap length
and timestamp resolution (if_tsresol, if_tsoffset); Enhanced, Simple and (obsolete)
Packet Blocks carry frames; Interface Statistics Blocks say what the capturing host
dropped (isb_ifdrop). Every other block is skipped by its length, as the format asks.
"""

from __future__ import annotations

import struct
from typing import NamedTuple, Optional

PCAP = 0
PCAPNG = 1

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_HEADER = 24
PCAP_RECORD = 16

SHB = 0x0A0D0D0A
IDB = 1
OPB = 2  # Packet Block (obsolete, still written by old tools)
SPB = 3
ISB = 5
EPB = 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
MAX_BLOCK = 16 * 1024 * 1024  # Wireshark's own bound on a block (and so on a record)
_OPT_END = 0
_IF_TSRESOL = 9
_IF_TSOFFSET = 14
_ISB_IFDROP = 5


class CaptureFormatError(ValueError):
    """The bytes are not a capture this reader understands (not pcap or pcapng, a header
    that contradicts itself)."""


class Interface(NamedTuple):
    """One capture interface: its link type, snap length, and how its timestamps become
    nanoseconds: ns = ts * mult // div + offset_ns."""

    linktype: int
    snaplen: int
    mult: int
    div: int
    offset_ns: int

    def ns(self, ts: int) -> int:
        return ts * self.mult // self.div + self.offset_ns


def pcap_header(head: bytes) -> Optional[tuple[bool, Interface]]:
    """A pcap file header: (big-endian, its one interface), or None when `head` does not
    start with a pcap magic."""
    if len(head) < 4:
        return None
    for order in "<>":
        magic = struct.unpack_from(order + "I", head)[0]
        if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            break
    else:
        return None
    if len(head) < PCAP_HEADER:
        raise CaptureFormatError(f"the pcap header is cut short ({len(head)} of {PCAP_HEADER} bytes)")
    major, _minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(order + "HHiIII", head, 4)
    if major != 2:
        raise CaptureFormatError(f"pcap version {major} (only 2.x exists)")
    mult = 1000 if magic == PCAP_MAGIC_US else 1
    # The link type's upper bits may carry FCS information (pcap-savefile(5)).
    return order == ">", Interface(linktype & 0xFFFF, snaplen, mult, 1, 0)


def is_pcapng(head: bytes) -> bool:
    return len(head) >= 4 and struct.unpack_from("<I", head)[0] == SHB


def section_order(block: bytes) -> str:
    """The byte order ('<' or '>') of a Section Header Block (its first 12 bytes)."""
    if len(block) < 12:
        raise CaptureFormatError("the pcapng section header is cut short")
    magic = struct.unpack_from("<I", block, 8)[0]
    if magic == BYTE_ORDER_MAGIC:
        return "<"
    if magic == 0x4D3C2B1A:
        return ">"
    raise CaptureFormatError("the pcapng section header has no byte-order magic")


def options(body: bytes, start: int, order: str) -> dict[int, bytes]:
    """The options of a block body from `start` (code -> value; a repeated code keeps the
    first), bounded by the body."""
    found: dict[int, bytes] = {}
    pos, n = start, len(body)
    while pos + 4 <= n:
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == _OPT_END:
            break
        value = body[pos + 4:pos + 4 + length]
        if len(value) < length:
            break
        found.setdefault(code, bytes(value))
        pos += 4 + ((length + 3) & ~3)
    return found


def interface(body: bytes, order: str) -> Interface:
    """An Interface Description Block's body (after type and length)."""
    if len(body) < 8:
        raise CaptureFormatError("an interface description block is cut short")
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
    opts = options(body, 8, order)
    mult, div = 1000, 1  # microseconds unless if_tsresol says otherwise
    resol = opts.get(_IF_TSRESOL)
    if resol:
        power = resol[0] & 0x7F
        if resol[0] & 0x80:
            if power > 64:
                raise CaptureFormatError(f"if_tsresol 2^-{power} is out of range")
            mult, div = 1_000_000_000, 1 << power
        else:
            if power > 18:
                raise CaptureFormatError(f"if_tsresol 10^-{power} is out of range")
            mult, div = (10 ** (9 - power), 1) if power <= 9 else (1, 10 ** (power - 9))
    offset = 0
    raw = opts.get(_IF_TSOFFSET)
    if raw is not None and len(raw) == 8:
        offset = struct.unpack(order + "q", raw)[0] * 1_000_000_000
    return Interface(linktype, snaplen, mult, div, offset)


def interface_drops(body: bytes, order: str) -> Optional[tuple[int, int]]:
    """An Interface Statistics Block's (interface id, isb_ifdrop), or None without it."""
    if len(body) < 12:
        return None
    iface = struct.unpack_from(order + "I", body)[0]
    raw = options(body, 12, order).get(_ISB_IFDROP)
    if raw is None or len(raw) != 8:
        return None
    return iface, struct.unpack(order + "Q", raw)[0]


class Frame(NamedTuple):
    """One captured frame: the interface that saw it, its time in nanoseconds, the
    captured bytes and its length on the wire."""

    interface: int
    time_ns: int
    data: bytes
    wire_length: int


def packet_block(btype: int, body: bytes, order: str, interfaces: list[Interface]) -> Frame:
    """The frame in an Enhanced, Simple or (obsolete) Packet Block body."""
    if btype == EPB:
        if len(body) < 20:
            raise CaptureFormatError("an enhanced packet block is cut short")
        iface, hi, lo, caplen, wire = struct.unpack_from(order + "IIIII", body)
        start = 20
    elif btype == OPB:
        if len(body) < 20:
            raise CaptureFormatError("a packet block is cut short")
        iface, _drops, hi, lo, caplen, wire = struct.unpack_from(order + "HHIIII", body)
        start = 20
    else:  # SPB: interface 0, no time
        if len(body) < 4 or not interfaces:
            raise CaptureFormatError("a simple packet block comes before any interface")
        wire = struct.unpack_from(order + "I", body)[0]
        snap = interfaces[0].snaplen or wire
        return Frame(0, -1, bytes(body[4:4 + min(wire, snap, len(body) - 4)]), wire)
    if iface >= len(interfaces):
        raise CaptureFormatError(f"a packet names interface {iface}, which was never described")
    if start + caplen > len(body):
        raise CaptureFormatError(f"a packet block claims {caplen} captured bytes it does not hold")
    return Frame(iface, interfaces[iface].ns((hi << 32) | lo), bytes(body[start:start + caplen]), wire)


__all__ = [
    "EPB",
    "IDB",
    "ISB",
    "MAX_BLOCK",
    "OPB",
    "PCAP",
    "PCAPNG",
    "PCAP_HEADER",
    "PCAP_RECORD",
    "SHB",
    "SPB",
    "CaptureFormatError",
    "Frame",
    "Interface",
    "interface",
    "interface_drops",
    "is_pcapng",
    "options",
    "packet_block",
    "pcap_header",
    "section_order",
]
