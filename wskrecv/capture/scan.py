"""The batch scanner: the common case of a capture read at full speed.

`scan` walks whole records (pcap) or Enhanced Packet Blocks (pcapng) in a buffer and
appends each whole, unfragmented UDP datagram to column lists (payloads, sources,
destinations, times), as the counting kernel takes them. It stops, leaving `pos` at the
record, wherever the general path must decide: a record not whole in the buffer (END),
one it does not decode itself (SLOW: fragments, truncated datagrams, IPv6 extension
headers, other blocks...), the first at or after `stop_ns` (TIME), or once `limit`
datagrams are in the columns (FULL).

This is the readable reference; the compiled core's `scan_capture` (csrc/capture.c)
does the same and must give the same columns and tally for any bytes (property tests
hold them together). It may hand more records to the general path than this one does:
only what ends up in the columns and the tally must agree.
"""

from __future__ import annotations

import struct
from operator import index
from typing import Optional

from wskrecv.capture import packets
from wskrecv.capture.formats import EPB, MAX_BLOCK, PCAP, PCAP_RECORD, PCAPNG

END, SLOW, TIME, FULL = range(4)
FRAMES = len(packets.SKIP_REASONS)  # the tally's last slot: packet records scanned
TALLY_SIZE = FRAMES + 1
CACHE_MAX = 4096  # addresses kept as ready-made tuples (a flood of sources clears it)

_PCAP_LE = struct.Struct("<IIII")
_PCAP_BE = struct.Struct(">IIII")
_BLOCK_LE = struct.Struct("<II")
_BLOCK_BE = struct.Struct(">II")
_EPB_LE = struct.Struct("<IIIII")
_EPB_BE = struct.Struct(">IIIII")


def endpoint(cache: dict, version: int, packed: bytes, port: int) -> tuple:
    """packets.endpoint, memoised in `cache` (cleared past CACHE_MAX entries)."""
    key = packed + port.to_bytes(2, "big")
    found = cache.get(key)
    if found is None:
        if len(cache) >= CACHE_MAX:
            cache.clear()
        found = cache[key] = packets.endpoint(version, packed, port)
    return found


def scan(buf: bytes, pos: int, kind: int, big: bool, ifaces: tuple, port: int,
         stop_ns: Optional[int], limit: int, cache: dict, datas: list, sources: list,
         dests: list, stamps: list, tally: list) -> tuple[int, int]:
    """Scan `buf` from `pos`; returns (the position reached, why it stopped).

    `kind`: formats.PCAP or PCAPNG; `big`: the section's byte order; `ifaces`: per
    interface (link type, ns per timestamp unit, offset in ns), the unit 0 where the
    resolution is not a whole number of nanoseconds (the general path converts those);
    `port`: only datagrams to this destination port (0: any); `tally`: skip reasons'
    counts (packets.SKIP_REASONS) and frames scanned (FRAMES), updated in place. Every
    argument is checked first, in this order (TypeError, ValueError), as the compiled
    twin checks them."""
    n = len(buf)
    pos, kind = index(pos), index(kind)
    if kind not in (PCAP, PCAPNG):
        raise ValueError(f"scan_capture: kind {kind} is neither PCAP nor PCAPNG")
    big = bool(big)
    ifaces = tuple((index(linktype), index(unit), index(offset)) for linktype, unit, offset in ifaces)
    port = index(port)
    if stop_ns is not None:
        stop_ns = index(stop_ns)
    limit = index(limit)
    if not isinstance(cache, dict):
        raise TypeError("scan_capture: cache must be a dict")
    columns = (datas, sources, dests, stamps, tally)
    if not all(isinstance(c, list) for c in columns) or len(tally) < TALLY_SIZE:
        raise TypeError("scan_capture: the columns and the tally must be lists")
    if not 0 <= pos <= n:
        raise ValueError(f"scan_capture: pos {pos} is outside the buffer (0-{n})")
    ep = lambda v, packed, p: endpoint(cache, v, packed, p)  # noqa: E731
    while True:
        if len(datas) >= limit:
            return pos, FULL
        if kind == PCAP:
            if pos + PCAP_RECORD > n:
                return pos, END
            sec, frac, caplen, wire = (_PCAP_BE if big else _PCAP_LE).unpack_from(buf, pos)
            if caplen > MAX_BLOCK:
                return pos, SLOW
            start, end = pos + PCAP_RECORD, pos + PCAP_RECORD + caplen
            if end > n:
                return pos, END
            linktype, unit, offset = ifaces[0]
            time_ns = sec * 1_000_000_000 + frac * unit
        else:
            if pos + 8 > n:
                return pos, END
            btype, total = (_BLOCK_BE if big else _BLOCK_LE).unpack_from(buf, pos)
            if btype != EPB or total < 32 or total % 4 or total > MAX_BLOCK:
                return pos, SLOW
            if pos + total > n:
                return pos, END
            iface, hi, lo, caplen, wire = (_EPB_BE if big else _EPB_LE).unpack_from(buf, pos + 8)
            trailer = (_BLOCK_BE if big else _BLOCK_LE).unpack_from(buf, pos + total - 8)[1]
            if trailer != total or iface >= len(ifaces) or caplen > total - 32 or ifaces[iface][1] == 0:
                return pos, SLOW
            linktype, unit, offset = ifaces[iface]
            start, end = pos + 28, pos + 28 + caplen
            time_ns = ((hi << 32) | lo) * unit + offset
        if linktype not in packets.LINKTYPES:
            return pos, SLOW
        if stop_ns is not None and time_ns >= stop_ns:
            return pos, TIME
        found = packets.decode(linktype, buf[start:end], wire, port, ep)
        if isinstance(found, packets.Udp):
            if len(found.data) != found.wire_length:
                return pos, SLOW  # truncated: the general path marks it
            datas.append(found.data)
            sources.append(found.src)
            dests.append(found.dst)
            stamps.append(time_ns)
        elif isinstance(found, packets.Fragment):
            return pos, SLOW
        else:
            tally[found] += 1
        tally[FRAMES] += 1
        pos = end if kind == PCAP else pos + total


__all__ = ["CACHE_MAX", "END", "FRAMES", "FULL", "SLOW", "TALLY_SIZE", "TIME", "endpoint", "scan"]
