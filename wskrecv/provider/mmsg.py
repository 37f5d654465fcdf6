"""Batched reads with Linux recvmmsg(2) through ctypes.

One system call fills up to `batch` preallocated slots: a data buffer, a sockaddr and a
control buffer each, described by preallocated iovec and mmsghdr arrays. Parsing the
results is the hot path, so the usual batch is parsed by columns (`_parse`): one unpack
each over the mmsghdrs and the slots, sender addresses and the control data that rarely
changes (packet info, drop counter) converted once and then looked up by their raw bytes;
anything unusual goes slot by slot through the general control-message walk.

This is the pure-Python twin (and specification) of the compiled core's reader
(csrc/reader.c); wskrecv.core picks one.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import sys
from collections import Counter
from collections.abc import Iterator
from itertools import repeat
from operator import add, index, mul
from typing import Any, Optional

from wskrecv.wsk.datagram import Datagram, make_datagram

# Linux values (the socket module lacks some of them).
SO_TIMESTAMPNS = 35
SO_RXQ_OVFL = 40
IP_PKTINFO = 8
IPV6_PKTINFO = 50
# The packet's own fields, when the socket asks for them (IP_RECVTOS, IP_RECVTTL,
# IPV6_RECVTCLASS, IPV6_RECVHOPLIMIT): the TOS byte (DSCP and ECN) or IPv6 traffic class,
# and the TTL or hop limit.
IP_TOS = 1
IP_TTL = 2
IP_RECVTTL = 12
IP_RECVTOS = 13
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
IPV6_RECVTCLASS = 66
IPV6_TCLASS = 67
MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
MSG_CTRUNC = 0x08

CONTROL_SLOT = 256  # per datagram: timestamp + drop counter + packet info + TOS + TTL
NAME_SLOT = 32  # sockaddr_in6 is 28 bytes; 32 keeps the control buffer 8-aligned
_CACHE_LIMIT = 4096  # entries in each conversion cache before it starts over
# A recvmmsg call through ctypes costs more to set up than a recvmsg: it pays from about 4
# datagrams on (measured on loopback); smaller reads use the provider's recvmsg loop.
MMSG_MIN = 4
MAX_BATCH = 1024  # datagrams per read
MAX_BUFFER = 1 << 20  # bytes per datagram slot


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


def _header_struct() -> struct.Struct:
    """A struct format that pulls (namelen, controllen, flags, msg_len) out of one mmsghdr,
    built from the ctypes layout so it is right on any ABI."""
    size_t = "Q" if ctypes.sizeof(ctypes.c_size_t) == 8 else "I"
    fields = [
        (_MsgHdr.msg_namelen.offset, "I", 4),
        (_MsgHdr.msg_controllen.offset, size_t, ctypes.sizeof(ctypes.c_size_t)),
        (_MsgHdr.msg_flags.offset, "i", 4),
        (_MMsgHdr.msg_len.offset, "I", 4),
    ]
    fmt, pos = "=", 0
    for offset, code, size in fields:
        fmt += f"{offset - pos}x{code}" if offset > pos else code
        pos = offset + size
    if ctypes.sizeof(_MMsgHdr) > pos:
        fmt += f"{ctypes.sizeof(_MMsgHdr) - pos}x"
    s = struct.Struct(fmt)
    assert s.size == ctypes.sizeof(_MMsgHdr), (fmt, s.size)
    return s


def _load_recvmmsg() -> Optional[object]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.recvmmsg
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


_recvmmsg = _load_recvmmsg()
_timespec = struct.Struct("@qq" if ctypes.sizeof(ctypes.c_long) == 8 else "@ll")
_cmsghdr = struct.Struct("@NiI" if ctypes.sizeof(ctypes.c_size_t) == 8 else "@Iii")
_CMSG_ALIGN = ctypes.sizeof(ctypes.c_size_t)
_u32 = struct.Struct("@I")
_int = struct.Struct("@i")
_in_pktinfo = struct.Struct("@i4s4s")  # ifindex, spec_dst, addr
_in6_pktinfo = struct.Struct("@16si")  # addr, ifindex
_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_INT_MAX = (1 << 31) - 1
_AF_INET6 = socket.AF_INET6
_SOL_SOCKET = socket.SOL_SOCKET
_IPPROTO_IP = socket.IPPROTO_IP
_IPPROTO_IPV6 = socket.IPPROTO_IPV6


def available() -> bool:
    """Whether this platform has recvmmsg (and WSKRECV_NO_RECVMMSG does not forbid it)."""
    return _recvmmsg is not None and not os.environ.get("WSKRECV_NO_RECVMMSG")


def _align(n: int) -> int:
    return (n + _CMSG_ALIGN - 1) & ~(_CMSG_ALIGN - 1)


# Each datagram's slot holds its sockaddr, then its control buffer. Linux writes the
# SO_TIMESTAMPNS message first; the rest (the "tail": drop counter, packet info, TTL and
# TOS when asked for) is at most SO_RXQ_OVFL (24) + IP_PKTINFO (32) + IP_TTL (24) + IP_TOS
# (24), plus IPV6_PKTINFO (40) on an IPv6 socket (an IPv4 datagram there carries both).
SLOT = NAME_SLOT + CONTROL_SLOT
_TS_SPACE = _align(_cmsghdr.size) + _align(_timespec.size)
_TAIL = {_AF_INET: 104, _AF_INET6: 144}
FIELD_VALUES = 256  # TOS bytes and TTLs: one count per value
_MISSING: Any = object()
# The one-unpack fast path reads the layout of LP64 Linux; elsewhere every slot is walked.
_LP64 = ctypes.sizeof(ctypes.c_size_t) == 8 and ctypes.sizeof(ctypes.c_long) == 8


def _slot_struct(namesize: int, tail: int) -> struct.Struct:
    """(sockaddr bytes, cmsg_len, cmsg_level, cmsg_type, tv_sec, tv_nsec, tail bytes) of one
    slot, reading its first control message as SO_TIMESTAMPNS (the caller checks the type)."""
    pad = CONTROL_SLOT - _TS_SPACE - tail
    return struct.Struct(f"={namesize}s{NAME_SLOT - namesize}xQiiqq{tail}s{pad}x")


def _sockaddr(raw: bytes) -> tuple:
    """A struct sockaddr_in/_in6 as Python's socket address tuple."""
    family = int.from_bytes(raw[:2], sys.byteorder)
    port = int.from_bytes(raw[2:4], "big")
    if family == _AF_INET6:
        flowinfo = int.from_bytes(raw[4:8], "big")
        scope = int.from_bytes(raw[24:28], sys.byteorder)
        return (_ntop(_AF_INET6, raw[8:24]), port, flowinfo, scope)
    return (_ntop(_AF_INET, raw[4:8]), port)


def _messages(raw: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(level, type, data) for each control message in `raw`."""
    pos = 0
    hdr = _cmsghdr.size
    while pos + hdr <= len(raw):
        length, level, kind = _cmsghdr.unpack_from(raw, pos)
        if length < hdr:
            return
        yield level, kind, raw[pos + hdr : pos + length]
        pos += _align(length)


Local = Optional[tuple]  # (address, ifindex) or (address, ifindex, tos, ttl); see read_ancillary


def _walk(raw: bytes) -> tuple[Local, Optional[int], Optional[int]]:
    """(packet info, drop counter, timestamp) from raw control data: the general path."""
    return read_ancillary(_messages(raw))


def _byte(value: bytes) -> Optional[int]:
    """The value of an IP_TOS (one byte) or of an int-sized TTL, hop limit or traffic class
    message, as 0-255 (None when too short)."""
    if len(value) >= 4:
        return _int.unpack_from(value)[0] & 0xFF
    return value[0] if value else None


def read_ancillary(
    messages: Iterator[tuple[int, int, bytes]] | list[tuple[int, int, bytes]],
) -> tuple[Local, Optional[int], Optional[int]]:
    """(packet info, drop counter, timestamp) from (level, type, data) control messages,
    as recvmsg returns them or `_messages` walks them out of a recvmmsg slot. Packet info
    is (destination address, interface index), and (..., tos, ttl) when the socket asked
    for the TOS byte or traffic class and the TTL or hop limit too (each None when absent):
    the model reads the first two, --dump and the counts the others."""
    local = drops = stamp = tos = ttl = None
    for level, kind, value in messages:
        if kind == IP_PKTINFO and level == _IPPROTO_IP:
            ifindex, _spec, dst = _in_pktinfo.unpack(value[: _in_pktinfo.size])
            local = (_ntop(_AF_INET, dst), ifindex)
        elif kind == IPV6_PKTINFO and level == _IPPROTO_IPV6:
            dst, ifindex = _in6_pktinfo.unpack(value[: _in6_pktinfo.size])
            local = (_ntop(_AF_INET6, dst), ifindex)
        elif kind == SO_RXQ_OVFL and level == _SOL_SOCKET:
            drops = _u32.unpack(value[:4])[0]
        elif kind == SO_TIMESTAMPNS and level == _SOL_SOCKET:
            sec, nsec = _timespec.unpack(value[: _timespec.size])
            stamp = sec * 1_000_000_000 + nsec
        elif level == _IPPROTO_IP and kind in (IP_TOS, IP_TTL) or (
                level == _IPPROTO_IPV6 and kind in (IPV6_TCLASS, IPV6_HOPLIMIT)):
            if kind in (IP_TOS, IPV6_TCLASS):
                tos = _byte(value)
            else:
                ttl = _byte(value)
    if local is not None and (tos is not None or ttl is not None):
        local = (local[0], local[1], tos, ttl)
    return local, drops, stamp


def _remember(cache: dict, key: bytes, value: Any) -> Any:  # type: ignore[type-arg]
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


class MmsgReader:
    """Reads up to `batch` datagrams per recvmmsg call from a non-blocking UDP socket."""

    def __init__(self, sock: socket.socket, batch: int = 64, buffer_size: int = 65535) -> None:
        if _recvmmsg is None:
            raise OSError(errno.ENOSYS, "recvmmsg is not available here")
        if sock.family not in (_AF_INET, _AF_INET6):
            raise ValueError(
                f"MmsgReader reads AF_INET and AF_INET6 sockets, not address family {int(sock.family)}")
        batch, buffer_size = index(batch), index(buffer_size)
        if not (1 <= batch <= MAX_BATCH and 1 <= buffer_size <= MAX_BUFFER):
            raise ValueError(f"MmsgReader: batch must be 1-{MAX_BATCH} and buffer_size 1-{MAX_BUFFER}")
        self.sock = sock
        self.batch = batch
        self.buffer_size = buffer_size
        self.drops_seen = 0  # latest SO_RXQ_OVFL counter
        self.truncated = 0  # datagrams longer than buffer_size (MSG_TRUNC)
        self.control_truncated = 0  # control data that did not fit (MSG_CTRUNC)
        # Datagrams per TOS byte (or traffic class) and per TTL (or hop limit), counted
        # for those whose packet info carries them (read_ancillary).
        self.tos_counts = [0] * FIELD_VALUES
        self.ttl_counts = [0] * FIELD_VALUES
        self._fields = False  # a tail carried them (`_tail`): the fast path counts them
        self._namesize = 28 if sock.family == _AF_INET6 else 16
        tail = _TAIL.get(sock.family, _TAIL[_AF_INET6])
        self._fast_control = _TS_SPACE + tail
        self._data = bytearray(batch * buffer_size)
        self._slots = bytearray(batch * SLOT)
        self._iov = (_IoVec * batch)()
        self._hdr_bytes = bytearray(batch * ctypes.sizeof(_MMsgHdr))
        self._msgs = (_MMsgHdr * batch).from_buffer(self._hdr_bytes)
        data_at = ctypes.addressof(ctypes.c_char.from_buffer(self._data))
        self._slots_at = ctypes.addressof(ctypes.c_char.from_buffer(self._slots))
        for i in range(batch):
            self._iov[i].iov_base = data_at + i * buffer_size
            self._iov[i].iov_len = buffer_size
            hdr = self._msgs[i].msg_hdr
            hdr.msg_name = self._slots_at + i * SLOT
            hdr.msg_namelen = NAME_SLOT
            hdr.msg_iov = ctypes.addressof(self._iov[i])
            hdr.msg_iovlen = 1
            hdr.msg_control = self._slots_at + i * SLOT + NAME_SLOT
            hdr.msg_controllen = CONTROL_SLOT
        # The kernel overwrites namelen/controllen: restore them from this copy each call.
        self._pristine = bytes(self._hdr_bytes)
        self._msgs_at = ctypes.addressof(self._msgs)
        self._hdr_view = memoryview(self._hdr_bytes)
        self._data_view = memoryview(self._data)
        self._slots_view = memoryview(self._slots)
        self._header = _header_struct()
        self._slot = _slot_struct(self._namesize, tail)
        self._addr_cache: dict[bytes, tuple] = {}
        # Control data after the timestamp -> packet info (tails with a drop counter are
        # converted in `_tail`: the counter changes with every drop).
        self._tail_cache: dict[bytes, Optional[tuple[str, int]]] = {}
        self._ovfl_header = _cmsghdr.pack(_cmsghdr.size + 4, _SOL_SOCKET, SO_RXQ_OVFL)
        # n -> (struct over n mmsghdrs, struct over n slots): one unpack per read.
        self._bulk: dict[int, tuple[struct.Struct, struct.Struct]] = {}
        self._starts = range(0, batch * buffer_size, buffer_size)
        self._payload_structs: dict[tuple[int, int], struct.Struct] = {}

    def read(self, max_n: int) -> list[Datagram]:
        """Read up to min(max_n, batch) datagrams that are already queued (never blocks)."""
        vlen = min(index(max_n), self.batch)
        if vlen <= 0:
            return []
        fd = index(self.sock.fileno())
        if not 0 <= fd <= _INT_MAX:  # a closed socket's -1 (what recvmmsg would say)
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        ctypes.memmove(self._msgs_at, self._pristine, vlen * self._header.size)
        # Zeroed slots make the bytes after the kernel's control data predictable, so the
        # tail can serve as a cache key.
        ctypes.memset(self._slots_at, 0, vlen * SLOT)
        while True:
            n = _recvmmsg(fd, self._msgs_at, vlen, MSG_DONTWAIT, None)
            if n >= 0:
                break
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return []
            if err == errno.ECONNREFUSED:  # an ICMP error queued on the socket
                continue
            raise OSError(err, os.strerror(err))
        return self._parse(n)

    def _bulk_structs(self, n: int) -> tuple[struct.Struct, struct.Struct]:
        """Structs that unpack the first `n` mmsghdrs and slots each in one call."""
        pair = self._bulk.get(n)
        if pair is None:
            hdr, slot = self._header.format, self._slot.format
            pair = (struct.Struct("=" + hdr[1:] * n), struct.Struct("=" + slot[1:] * n))
            self._bulk[n] = pair
        return pair

    def _payloads(self, n: int, size: int) -> struct.Struct:
        """A struct that copies `n` payloads of `size` bytes out of the data slots."""
        key = (n, size)
        s = self._payload_structs.get(key)
        if s is None:
            if len(self._payload_structs) >= _CACHE_LIMIT // 16:
                self._payload_structs.clear()
            pad = self.buffer_size - size
            s = struct.Struct("=" + f"{size}s{pad}x" * (n - 1) + f"{size}s")
            self._payload_structs[key] = s
        return s

    def _parse(self, n: int) -> list[Datagram]:
        """The datagrams of the first `n` slots.

        The hot path works on columns, not datagrams: one unpack each pulls every header
        and every slot's fields, slices of the result are the columns, and C-level `map`s
        build payloads, timestamps and lookups; Python code runs per datagram only for a
        sender or packet info not seen before. Anything unusual in the batch (flags, an
        unexpected first control message or sizes) takes the per-slot path."""
        if not n:
            return []
        headers, slots = self._bulk_structs(n)
        hdr = headers.unpack_from(self._hdr_bytes)
        lengths = hdr[3::4]
        fields = slots.unpack_from(self._slots)
        namesize = self._namesize
        if not (
            _LP64
            and hdr[2::4].count(0) == n  # no MSG_TRUNC / MSG_CTRUNC
            and hdr[0::4].count(namesize) == n
            and max(hdr[1::4]) <= self._fast_control
            and fields[3::7].count(SO_TIMESTAMPNS) == n
            and fields[2::7].count(_SOL_SOCKET) == n
        ):
            return self._parse_slots(n)
        size = lengths[0]
        if lengths.count(size) == n:  # one size (the usual case): one unpack, no slicing
            payloads = self._payloads(n, size).unpack_from(self._data)
        else:
            starts = self._starts[:n]
            ends = map(add, starts, lengths)
            payloads = map(bytes, map(self._data_view.__getitem__, map(slice, starts, ends)))
        names = fields[0::7]
        remotes = list(map(self._addr_cache.get, names))
        if None in remotes:
            for i, r in enumerate(remotes):
                if r is None:
                    name = names[i]
                    remotes[i] = self._addr_cache.get(name) or _remember(
                        self._addr_cache, name, _sockaddr(name)
                    )
        tails = fields[6::7]
        locals_ = list(map(self._tail_cache.get, tails, repeat(_MISSING)))
        if _MISSING in locals_:
            for i, local in enumerate(locals_):
                if local is _MISSING:
                    locals_[i] = self._tail(tails[i])
        if self._fields:  # the socket asked for TOS and TTL (a tail said so once)
            self._count_fields(locals_)
        secs = fields[4::7]
        sec = secs[0]
        if secs.count(sec) == n:  # a batch usually arrived within one second
            stamps = map(add, repeat(sec * 1_000_000_000), fields[5::7])
        else:
            stamps = map(add, map(mul, secs, repeat(1_000_000_000)), fields[5::7])
        return list(map(make_datagram, repeat(Datagram), zip(payloads, remotes, locals_, stamps)))

    def _parse_slots(self, n: int) -> list[Datagram]:
        """The general path, slot by slot: truncation, another ABI, unusual control data."""
        out: list[Datagram] = []
        data = self._data_view
        size = self.buffer_size
        headers = self._header.iter_unpack(self._hdr_view[: n * self._header.size])
        for i, (namelen, controllen, flags, length) in enumerate(headers):
            if flags:
                self._flags(flags)
            at = i * SLOT
            name = bytes(self._slots[at : at + namelen])
            local, drops, stamp = _walk(bytes(self._slots[at + NAME_SLOT : at + NAME_SLOT + controllen]))
            if drops is not None and drops > self.drops_seen:
                self.drops_seen = drops
            remote = self._addr_cache.get(name) or _remember(self._addr_cache, name, _sockaddr(name))
            payload = data[i * size : i * size + min(length, size)].tobytes()
            out.append(make_datagram(Datagram, (payload, remote, local, stamp)))
        self._count_fields([d[2] for d in out])
        return out

    def _count_fields(self, locals_: list) -> None:  # type: ignore[type-arg]
        """Count the TOS and TTL values the batch's packet infos carry (a batch has few
        distinct ones: counted per distinct packet info)."""
        tos, ttl = self.tos_counts, self.ttl_counts
        for local, k in Counter(locals_).items():
            if local is not None and len(local) > 2:
                if local[2] is not None:
                    tos[local[2]] += k
                if local[3] is not None:
                    ttl[local[3]] += k

    def _tail(self, tail: bytes) -> Local:
        """Packet info from the control data after the timestamp, cached; a leading drop
        counter (it changes with every drop) is read here and the rest is cached. Packet
        info that carries TOS and TTL turns their counting on."""
        local = self._tail_uncounted(tail)
        if local is not None and len(local) > 2:
            self._fields = True
        return local

    def _tail_uncounted(self, tail: bytes) -> Local:
        if tail.startswith(self._ovfl_header):
            drops = _u32.unpack_from(tail, _cmsghdr.size)[0]
            if drops > self.drops_seen:
                self.drops_seen = drops
            skip = _align(_cmsghdr.size + 4)
            rest = tail[skip:] + bytes(skip)  # the same length as a tail without it
            local = self._tail_cache.get(rest, _MISSING)
            if local is _MISSING:
                local = _remember(self._tail_cache, rest, _walk(rest)[0])
            # Every datagram after a drop carries the counter, and it changes only with the
            # next drop: cache this tail as it is too, so overload does not slow reading.
            return _remember(self._tail_cache, tail, local)
        local, drops, _ = _walk(tail)
        if drops is not None:  # a drop counter elsewhere (not Linux's order): do not cache
            self.drops_seen = max(self.drops_seen, drops)
            return local
        return _remember(self._tail_cache, tail, local)

    def _flags(self, flags: int) -> None:
        if flags & MSG_TRUNC:
            self.truncated += 1
        if flags & MSG_CTRUNC:
            self.control_truncated += 1
