"""Capture files built in memory for the reader's tests: pcap (either byte order, micro-
or nanoseconds) and pcapng blocks (sections of either byte order, interfaces with their
own time resolution, every packet block kind, statistics), from frames scapy builds."""

from __future__ import annotations

import struct
from typing import Optional


def pcap(frames: list[tuple[int, bytes]], linktype: int, big: bool = False, nano: bool = True,
         wire: Optional[dict[int, int]] = None, snaplen: int = 262144) -> bytes:
    """A pcap file of (time_ns, frame) records; `wire`: record index -> length on the
    wire when the frame is a cut one."""
    order = ">" if big else "<"
    out = [struct.pack(order + "IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0,
                       snaplen, linktype)]
    for i, (t, frame) in enumerate(frames):
        sec, frac = divmod(t, 1_000_000_000)
        if not nano:
            frac //= 1000
        out.append(struct.pack(order + "IIII", sec, frac, len(frame), (wire or {}).get(i, len(frame))))
        out.append(frame)
    return b"".join(out)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def block(btype: int, body: bytes, big: bool = False) -> bytes:
    order = ">" if big else "<"
    body = _pad(body)
    total = 12 + len(body)
    return struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total)


def option(code: int, value: bytes, big: bool = False) -> bytes:
    return struct.pack((">" if big else "<") + "HH", code, len(value)) + _pad(value)


def shb(big: bool = False) -> bytes:
    order = ">" if big else "<"
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), big)


def idb(linktype: int, big: bool = False, tsresol: Optional[int] = None,
        tsoffset: Optional[int] = None, snaplen: int = 0) -> bytes:
    order = ">" if big else "<"
    opts = b""
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), big)
    if tsoffset is not None:
        opts += option(14, struct.pack(order + "q", tsoffset), big)
    if opts:
        opts += option(0, b"", big)
    return block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts, big)


def epb(iface: int, ts: int, frame: bytes, big: bool = False, wire: Optional[int] = None) -> bytes:
    order = ">" if big else "<"
    body = struct.pack(order + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(frame),
                       len(frame) if wire is None else wire)
    return block(6, body + _pad(frame) + option(1, b"a comment", big) + option(0, b"", big), big)


def opb(iface: int, ts: int, frame: bytes, big: bool = False) -> bytes:
    order = ">" if big else "<"
    body = struct.pack(order + "HHIIII", iface, 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame))
    return block(2, body + _pad(frame), big)


def spb(frame: bytes, big: bool = False) -> bytes:
    return block(3, struct.pack((">" if big else "<") + "I", len(frame)) + frame, big)


def isb(iface: int, drops: int, big: bool = False) -> bytes:
    order = ">" if big else "<"
    body = struct.pack(order + "III", iface, 0, 0) + option(5, struct.pack(order + "Q", drops), big) \
        + option(0, b"", big)
    return block(5, body, big)
