"""Payload headers: wskrecv's own, and the sockperf and iperf3 layouts it can read.

wskrecv header (network byte order, 36 bytes, then the body):

    offset size field
    0      4    magic        b"WSKR"
    4      1    version      1
    5      1    flags        0 (reserved)
    6      2    header_len   36 (bytes before the body; readers skip unknown extensions)
    8      4    stream       stream id chosen by the sender
    12     8    sequence     0, 1, 2, ... per stream
    20     8    send_ns      send time, nanoseconds since the Unix epoch (0: not stamped)
    28     4    body_len     bytes after the header
    32     4    checksum     CRC-32 (zlib/IEEE) of the body

The checksum covers the body only, so a sender builds a datagram once and patches
sequence and send time per datagram. A datagram is a wskrecv datagram when it is at least
36 bytes long, starts with the magic and version 1, and header_len + body_len equals its
length; `corrupt` means that holds but the body's CRC-32 does not match.

sockperf: u64 sequence, u16 flags, u32 message length (14 bytes, network order).
iperf3 UDP: u32 seconds, u32 microseconds, u32 packet count (`iperf3-64`: u64 count).
"""

from __future__ import annotations

import struct
import zlib
from typing import Callable, NamedTuple, Optional

MAGIC = b"WSKR"
VERSION = 1
HEADER = struct.Struct("!4sBBHIQQII")
HEADER_LEN = HEADER.size  # 36
_SEQ_TIME = struct.Struct("!QQ")  # sequence and send_ns, patched in place at offset 12
SOCKPERF = struct.Struct("!QHI")  # 14 bytes
IPERF3 = struct.Struct("!III")
IPERF3_64 = struct.Struct("!IIQ")

FORMATS = ("auto", "wskrecv", "sockperf", "iperf3", "iperf3-64", "none")  # what is read
SEND_FORMATS = ("wskrecv", "sockperf", "none")  # what `wskrecv send` writes


class Header(NamedTuple):
    """What a payload header says. `send_ns` is None where the format carries no time;
    `valid` is False for a wskrecv datagram whose body fails its checksum."""

    stream: int
    sequence: int
    send_ns: Optional[int]
    valid: bool = True


def build(stream: int, sequence: int, send_ns: int, body: bytes) -> bytearray:
    """A whole wskrecv datagram: header + body."""
    head = HEADER.pack(
        MAGIC, VERSION, 0, HEADER_LEN, stream, sequence, send_ns, len(body), zlib.crc32(body)
    )
    return bytearray(head + body)


def patch(datagram: bytearray, sequence: int, send_ns: int) -> None:
    """Rewrite sequence and send time of a datagram made by `build` (checksum unchanged)."""
    _SEQ_TIME.pack_into(datagram, 12, sequence, send_ns)


# The readers run once per datagram: bound methods, the magic read as an integer (no bytes
# object made) and a plain tuple (making a Header costs a fifth of a reader) keep them cheap.
Fields = tuple  # (stream, sequence, send_ns, valid): a Header's fields, in its order
_HEADER_INT = struct.Struct("!IBxHIQQII")  # HEADER with the magic as a number, flags skipped
_MAGIC_INT = int.from_bytes(MAGIC, "big")
_header = _HEADER_INT.unpack_from
_sockperf = SOCKPERF.unpack_from
_iperf3 = IPERF3.unpack_from
_iperf3_64 = IPERF3_64.unpack_from
_crc32 = zlib.crc32
_make = tuple.__new__
_SOCKPERF_LEN = SOCKPERF.size
_IPERF3_LEN = IPERF3.size
_IPERF3_64_LEN = IPERF3_64.size


def read_wskrecv(data: bytes) -> Optional[Fields]:
    """The wskrecv header of `data`, or None when it is not a wskrecv datagram."""
    n = len(data)
    if n < HEADER_LEN:
        return None
    magic, version, header_len, stream, seq, send_ns, body_len, crc = _header(data)
    if magic != _MAGIC_INT or version != VERSION or header_len < HEADER_LEN or header_len + body_len != n:
        return None
    return (stream, seq, send_ns or None, _crc32(data[header_len:]) == crc)


def read_wskrecv_truncated(data: bytes) -> Optional[Fields]:
    """The wskrecv header of a datagram the receive buffer truncated (MSG_TRUNC): the
    header must fit and say the datagram was longer. The body's CRC cannot be checked,
    so it is not judged corrupt."""
    n = len(data)
    if n < HEADER_LEN:
        return None
    magic, version, header_len, stream, seq, send_ns, body_len, _crc = _header(data)
    if magic != _MAGIC_INT or version != VERSION or header_len < HEADER_LEN or header_len + body_len <= n:
        return None
    return (stream, seq, send_ns or None, True)


def read_sockperf_truncated(data: bytes) -> Optional[Fields]:
    """sockperf's header of a truncated datagram: its length field says it was longer."""
    if len(data) < _SOCKPERF_LEN:
        return None
    seq, _flags, length = _sockperf(data)
    if length <= len(data):
        return None
    return (0, seq, None, True)


# sockperf's message flags (its Message.h): a client's message; one that asks the server
# for a reply (every one in ping-pong, some in under-load); warm-up.
SOCKPERF_CLIENT, SOCKPERF_PONG_REQUEST = 0x1, 0x2


def asks_reply(data: bytes) -> bool:
    """A sockperf client's message that asks for a reply (`sockperf ping-pong`,
    `under-load`): its length field is the datagram's and its flags say so. wskrecv only
    receives: such a sender waits for replies that never come."""
    if len(data) < _SOCKPERF_LEN:
        return False
    _seq, flags, length = _sockperf(data)
    want = SOCKPERF_CLIENT | SOCKPERF_PONG_REQUEST
    return length == len(data) and flags & want == want


def read_sockperf(data: bytes) -> Optional[Fields]:
    """sockperf's header; None when too short or its length field disagrees."""
    n = len(data)
    if n < _SOCKPERF_LEN:
        return None
    seq, _flags, length = _sockperf(data)
    if length != n:
        return None
    return (0, seq, None, True)


def read_iperf3(data: bytes) -> Optional[Fields]:
    """iperf3's 32-bit-counter header (send time in seconds + microseconds)."""
    if len(data) < _IPERF3_LEN:
        return None
    sec, usec, count = _iperf3(data)
    if usec >= 1_000_000:
        return None
    return (0, count, sec * 1_000_000_000 + usec * 1000, True)


def read_iperf3_64(data: bytes) -> Optional[Fields]:
    """iperf3's 64-bit-counter header (`iperf3 --udp-counters-64bit`)."""
    if len(data) < _IPERF3_64_LEN:
        return None
    sec, usec, count = _iperf3_64(data)
    if usec >= 1_000_000:
        return None
    return (0, count, sec * 1_000_000_000 + usec * 1000, True)


def build_sockperf(sequence: int, size: int) -> bytearray:
    """A sockperf-format datagram of `size` bytes (at least 14)."""
    out = bytearray(max(size, SOCKPERF.size))
    SOCKPERF.pack_into(out, 0, sequence, 0, len(out))
    return out


# The counting kernel reads headers as plain fields (READERS); everyone else gets them
# named (PARSERS, parse_*): the same readers, each result made a Header.
READERS = {
    "wskrecv": read_wskrecv,
    "auto": read_wskrecv,  # auto detects wskrecv's magic only; others must be asked for
    "sockperf": read_sockperf,
    "iperf3": read_iperf3,
    "iperf3-64": read_iperf3_64,
}
# The same for datagrams truncated by the receive buffer (MSG_TRUNC): a header that fits
# still gives the sequence (iperf3's carries no length, so its reader serves both).
TRUNCATED_READERS = {
    "wskrecv": read_wskrecv_truncated,
    "auto": read_wskrecv_truncated,
    "sockperf": read_sockperf_truncated,
    "iperf3": read_iperf3,
    "iperf3-64": read_iperf3_64,
}


def _named(read: Callable[[bytes], Optional[Fields]]) -> Callable[[bytes], Optional[Header]]:
    """`read` giving a Header instead of its plain fields."""

    def parse(data: bytes) -> Optional[Header]:
        fields = read(data)
        return None if fields is None else _make(Header, fields)

    parse.__name__ = parse.__qualname__ = read.__name__.replace("read_", "parse_")
    parse.__doc__ = read.__doc__
    return parse


parse_wskrecv = _named(read_wskrecv)
parse_wskrecv_truncated = _named(read_wskrecv_truncated)
parse_sockperf = _named(read_sockperf)
parse_sockperf_truncated = _named(read_sockperf_truncated)
parse_iperf3 = _named(read_iperf3)
parse_iperf3_64 = _named(read_iperf3_64)
_NAMED = {
    read_wskrecv: parse_wskrecv, read_wskrecv_truncated: parse_wskrecv_truncated,
    read_sockperf: parse_sockperf, read_sockperf_truncated: parse_sockperf_truncated,
    read_iperf3: parse_iperf3, read_iperf3_64: parse_iperf3_64,
}
PARSERS = {fmt: _NAMED[read] for fmt, read in READERS.items()}
TRUNCATED_PARSERS = {fmt: _NAMED[read] for fmt, read in TRUNCATED_READERS.items()}

