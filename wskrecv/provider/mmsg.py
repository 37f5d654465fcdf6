"""Batched reads with Linux recvmmsg(2) through ctypes.

One system call fills up to `batch` preallocated slots: a data buffer, a sockaddr and a
control buffer each, described by preallocated iovec and mmsghdr arrays. Parsing the
results is the hot path, so it avoids per-datagram ctypes attribute access: the headers'
lengths and flags come out of one `struct.iter_unpack` over the mmsghdr bytes; sender
addresses and the control data that rarely changes (packet info, drop counter) are
converted once and then looked up by their raw bytes; only the kernel timestamp is
unpacked for every datagram.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import sys
from typing import Optional

from wskrecv.wsk.datagram import Datagram, make_datagram

# Linux values (the socket module lacks some of them).
SO_TIMESTAMPNS = 35
SO_RXQ_OVFL = 40
IP_PKTINFO = 8
IPV6_PKTINFO = 50
MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
MSG_CTRUNC = 0x08

CONTROL_SLOT = 256  # per datagram: timestamp + drop counter + packet info, with room
NAME_SLOT = 32  # sockaddr_in6 is 28 bytes; 32 keeps slots 8-aligned
_CACHE_LIMIT = 4096  # entries in each conversion cache before it starts over


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
_timespec = struct.Struct("@qq")
_cmsghdr = struct.Struct("@NiI" if ctypes.sizeof(ctypes.c_size_t) == 8 else "@Iii")
_CMSG_ALIGN = ctypes.sizeof(ctypes.c_size_t)
_u32 = struct.Struct("@I")
_in_pktinfo = struct.Struct("@i4s4s")  # ifindex, spec_dst, addr
_in6_pktinfo = struct.Struct("@16si")  # addr, ifindex
_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_SOL_SOCKET = socket.SOL_SOCKET
_IPPROTO_IP = socket.IPPROTO_IP
_IPPROTO_IPV6 = socket.IPPROTO_IPV6


def available() -> bool:
    """Whether this platform has recvmmsg (and WSKRECV_NO_RECVMMSG does not forbid it)."""
    return _recvmmsg is not None and not os.environ.get("WSKRECV_NO_RECVMMSG")


def _align(n: int) -> int:
    return (n + _CMSG_ALIGN - 1) & ~(_CMSG_ALIGN - 1)


_TS_SPACE = _align(_cmsghdr.size) + _align(_timespec.size)


def _sockaddr(raw: bytes) -> tuple:
    """A struct sockaddr_in/_in6 as Python's socket address tuple."""
    family = int.from_bytes(raw[:2], sys.byteorder)
    port = int.from_bytes(raw[2:4], "big")
    if family == _AF_INET6:
        flowinfo = int.from_bytes(raw[4:8], "big")
        scope = int.from_bytes(raw[24:28], sys.byteorder)
        return (_ntop(_AF_INET6, raw[8:24]), port, flowinfo, scope)
    return (_ntop(_AF_INET, raw[4:8]), port)


class MmsgReader:
    """Reads up to `batch` datagrams per recvmmsg call from a non-blocking UDP socket."""

    def __init__(self, sock: socket.socket, batch: int = 64, buffer_size: int = 65535) -> None:
        if _recvmmsg is None:
            raise OSError(errno.ENOSYS, "recvmmsg is not available here")
        self.sock = sock
        self.batch = batch
        self.buffer_size = buffer_size
        self.drops_seen = 0  # latest SO_RXQ_OVFL counter
        self.truncated = 0  # datagrams longer than buffer_size (MSG_TRUNC)
        self.control_truncated = 0  # control data that did not fit (MSG_CTRUNC)
        self._data = bytearray(batch * buffer_size)
        self._names = bytearray(batch * NAME_SLOT)
        self._control = bytearray(batch * CONTROL_SLOT)
        self._iov = (_IoVec * batch)()
        self._hdr_bytes = bytearray(batch * ctypes.sizeof(_MMsgHdr))
        self._msgs = (_MMsgHdr * batch).from_buffer(self._hdr_bytes)
        data_at = ctypes.addressof(ctypes.c_char.from_buffer(self._data))
        names_at = ctypes.addressof(ctypes.c_char.from_buffer(self._names))
        control_at = ctypes.addressof(ctypes.c_char.from_buffer(self._control))
        for i in range(batch):
            self._iov[i].iov_base = data_at + i * buffer_size
            self._iov[i].iov_len = buffer_size
            hdr = self._msgs[i].msg_hdr
            hdr.msg_name = names_at + i * NAME_SLOT
            hdr.msg_namelen = NAME_SLOT
            hdr.msg_iov = ctypes.addressof(self._iov[i])
            hdr.msg_iovlen = 1
            hdr.msg_control = control_at + i * CONTROL_SLOT
            hdr.msg_controllen = CONTROL_SLOT
        # The kernel overwrites namelen/controllen: restore them from this copy each call.
        self._pristine = bytes(self._hdr_bytes)
        self._msgs_at = ctypes.addressof(self._msgs)
        self._hdr_view = memoryview(self._hdr_bytes)
        self._data_view = memoryview(self._data)
        self._names_view = memoryview(self._names)
        self._control_view = memoryview(self._control)
        self._header = _header_struct()
        self._addr_cache: dict[bytes, tuple] = {}
        # Control data after the timestamp (drop counter, packet info) -> (local, drops).
        self._tail_cache: dict[bytes, tuple[Optional[tuple[str, int]], Optional[int]]] = {}
        self._ts_header = _cmsghdr.pack(_cmsghdr.size + _timespec.size, _SOL_SOCKET, SO_TIMESTAMPNS)

    def read(self, max_n: int) -> list[Datagram]:
        """Read up to min(max_n, batch) datagrams that are already queued (never blocks)."""
        vlen = min(max_n, self.batch)
        if vlen <= 0:
            return []
        fd = self.sock.fileno()
        hdr_size = self._header.size
        ctypes.memmove(self._msgs_at, self._pristine, vlen * hdr_size)
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

    def _parse(self, n: int) -> list[Datagram]:
        out: list[Datagram] = []
        append = out.append
        data = self._data_view
        names = self._names_view[: n * NAME_SLOT].tobytes()
        control = self._control_view[: n * CONTROL_SLOT].tobytes()
        addr_cache = self._addr_cache
        tail_cache = self._tail_cache
        ts_header = self._ts_header
        ts_unpack = _timespec.unpack_from
        size = self.buffer_size
        ts_space = _TS_SPACE
        ts_len = len(ts_header)
        headers = self._header.iter_unpack(self._hdr_view[: n * self._header.size])
        for i, (namelen, controllen, flags, length) in enumerate(headers):
            if flags:
                self._flags(flags)
                if length > size:
                    length = size
            off = i * size
            payload = data[off : off + length].tobytes()
            at = i * NAME_SLOT
            raw_name = names[at : at + namelen]
            remote = addr_cache.get(raw_name)
            if remote is None:
                remote = self._remember(addr_cache, raw_name, _sockaddr(raw_name))
            at = i * CONTROL_SLOT
            # Linux puts the timestamp first; what follows (drop counter, packet info)
            # repeats from datagram to datagram, so it is converted once per distinct value.
            if controllen >= ts_space and control[at : at + ts_len] == ts_header:
                sec, nsec = ts_unpack(control, at + ts_len)
                stamp = sec * 1_000_000_000 + nsec
                tail = control[at + ts_space : at + controllen]
                known = tail_cache.get(tail)
                if known is None:
                    known = self._remember(tail_cache, tail, self._walk(tail))
            else:
                tail = control[at : at + controllen]
                known = self._walk(tail)
                stamp = self._walk_stamp(tail)
            local, drops = known
            if drops is not None and drops > self.drops_seen:
                self.drops_seen = drops
            append(make_datagram(Datagram, (payload, remote, local, stamp)))
        return out

    def _flags(self, flags: int) -> None:
        if flags & MSG_TRUNC:
            self.truncated += 1
        if flags & MSG_CTRUNC:
            self.control_truncated += 1

    @staticmethod
    def _remember(cache: dict, key: bytes, value: object) -> object:  # type: ignore[type-arg]
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = value
        return value

    @staticmethod
    def _messages(raw: bytes):  # type: ignore[no-untyped-def]
        """(level, type, data) for each control message in `raw`."""
        pos = 0
        hdr = _cmsghdr.size
        while pos + hdr <= len(raw):
            length, level, kind = _cmsghdr.unpack_from(raw, pos)
            if length < hdr:
                return
            yield level, kind, raw[pos + hdr : pos + length]
            pos += _align(length)

    def _walk(self, raw: bytes) -> tuple[Optional[tuple[str, int]], Optional[int]]:
        """Packet info and drop counter from control messages (the slow, general path)."""
        local = drops = None
        for level, kind, value in self._messages(raw):
            if kind == IP_PKTINFO and level == _IPPROTO_IP:
                ifindex, _spec, dst = _in_pktinfo.unpack(value[: _in_pktinfo.size])
                local = (_ntop(_AF_INET, dst), ifindex)
            elif kind == IPV6_PKTINFO and level == _IPPROTO_IPV6:
                dst, ifindex = _in6_pktinfo.unpack(value[: _in6_pktinfo.size])
                local = (_ntop(_AF_INET6, dst), ifindex)
            elif kind == SO_RXQ_OVFL and level == _SOL_SOCKET:
                drops = _u32.unpack(value[:4])[0]
        return local, drops

    def _walk_stamp(self, raw: bytes) -> Optional[int]:
        """The timestamp when it is not the first control message (or is missing)."""
        for level, kind, value in self._messages(raw):
            if kind == SO_TIMESTAMPNS and level == _SOL_SOCKET:
                sec, nsec = _timespec.unpack(value[: _timespec.size])
                return sec * 1_000_000_000 + nsec
        return None
