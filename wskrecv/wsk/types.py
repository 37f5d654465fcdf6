"""WSK_BUF and MDL chains, SOCKADDR, out-parameter cells and control messages (CMSGHDR).

WSK_BUF (wsk.h, and the WSK_BUF page): `Mdl` points to a chain of memory descriptors; the
data begin at `Offset`, which must lie within the first MDL, and extend for `Length` bytes
(for a receive: at most that many are written, in chain order). "If the Length member is
zero, this pointer can be NULL" (None). A plain bytearray stands for a chain of one MDL,
which is what most drivers pass.

The structures carry their WDK member names (WSK_BUF.Mdl/.Offset/.Length, MDL.Next) and
the snake_case ones as the same slots: one attribute under two names, no copy, no cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Union

from wskrecv.wsk.status import (
    AF_INET,
    AF_INET6,
    IP_PKTINFO,
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPV6_PKTINFO,
    SO_TIMESTAMP,
    SOL_SOCKET,
    TIMESTAMPING_FLAG_RX,
)

Buffer = Union[bytearray, memoryview]


class Mdl:
    """One MDL of a chain: a locked buffer (`buffer`) and the next MDL (`next`), as
    IoAllocateMdl and MmBuildMdlForNonPagedPool leave them (`MDL.Next`)."""

    __slots__ = ("buffer", "next")

    def __init__(self, buffer: Buffer, next: Optional[Mdl] = None) -> None:  # noqa: A002
        self.buffer = buffer
        self.next = next

    @property
    def byte_count(self) -> int:
        """MmGetMdlByteCount."""
        return len(self.buffer)

    def __repr__(self) -> str:
        return f"<Mdl {len(self.buffer)} bytes{' ->' if self.next is not None else ''}>"


Mdl.Next = Mdl.next  # type: ignore[attr-defined]  # MDL.Next: the same slot


def alias(cls: type, **names: str) -> None:
    """Give `cls` each WDK member name as another name for an attribute it has (a slot's
    descriptor or a property): `alias(WskBuf, Mdl="mdl")`."""
    for wdk, mine in names.items():
        setattr(cls, wdk, cls.__dict__[mine])


def _writable(buffer: Any) -> bool:
    """Whether a receive may write into `buffer` (locked memory: a bytearray or a writable
    memoryview)."""
    kind = type(buffer)
    return kind is bytearray or (kind is memoryview and not buffer.readonly)


def mdl_buffers(mdl: Union[Buffer, Mdl]) -> list[Buffer]:
    """The buffers of a chain, in order (a plain buffer is a chain of one; a NULL Mdl, a
    chain of none)."""
    if mdl is None:
        return []
    if not isinstance(mdl, Mdl):
        return [mdl]
    out: list[Buffer] = []
    node: Optional[Mdl] = mdl  # type: ignore[assignment]
    while node is not None and len(out) <= 4096:  # a chain that comes round again ends
        out.append(node.buffer)
        node = node.next
    return out


class WskBuf:
    """WSK_BUF {Mdl, Offset, Length}: where a receive may write, and at most how much.

    `mdl` is a bytearray (a one-MDL chain) or the first `Mdl` of a chain. `owner` is the
    last IRP a WskReceiveFrom handed it to (the buffer is that IRP's until it completes).

    Once written, a bytearray MDL is held through a memoryview, as an MDL describes locked
    memory: its size is fixed from then on (resizing it raises BufferError). Copying a
    datagram through the view costs a third of a bytearray slice assignment, which copies
    `bytes` twice; it is made again if `mdl` is replaced."""

    __slots__ = ("mdl", "offset", "length", "owner", "_view")

    def __init__(
        self, mdl: Union[Buffer, Mdl, None], offset: int = 0, length: Optional[int] = None
    ) -> None:
        self.mdl = mdl
        self.offset = offset
        if length is None:
            length = max(sum(map(len, mdl_buffers(mdl))) - offset, 0) if mdl is not None else 0
        self.length = length
        self.owner: Any = None
        self._view: Optional[memoryview] = None

    def _bytes_view(self) -> memoryview:
        """The view of a bytearray `mdl` (see the class docstring)."""
        view = self._view
        if view is None or view.obj is not self.mdl:
            view = self._view = memoryview(self.mdl)  # type: ignore[arg-type]
        return view

    def is_valid(self) -> bool:
        """Offset lies within the first MDL and Length bytes fit in the chain from there,
        every buffer writable; a NULL Mdl only with a Length of zero."""
        mdl = self.mdl
        if type(mdl) is not bytearray:  # an MDL chain (a bytearray is one MDL), or NULL
            return self._chain_valid()
        offset = self.offset
        length = self.length
        try:
            return offset >= 0 and length >= 0 and offset + length <= len(mdl)
        except TypeError:  # an Offset or Length that is no number
            return False

    def _chain_valid(self) -> bool:
        offset, length = self.offset, self.length
        if type(length) is not int or type(offset) is not int or length < 0:
            return False
        mdl = self.mdl
        if mdl is None:  # the Offset member is not used then
            return length == 0
        if not isinstance(mdl, (Mdl, memoryview)):
            return False
        buffers = mdl_buffers(mdl)
        if len(buffers) > 4096 or not all(map(_writable, buffers)):  # a chain that loops, too
            return False
        return 0 <= offset <= len(buffers[0]) and offset + length <= sum(map(len, buffers))

    def fill(self, data: bytes) -> int:
        """Copy `data` in, in chain order from Offset, at most Length bytes; the count.

        What a receive does with the datagram (the caller sets MSG_TRUNC when the count
        is short of the datagram)."""
        n = len(data)
        if n > self.length:
            n = self.length
            data = data[:n]
        if not n:  # nothing to copy (and a NULL Mdl is legal only then)
            return 0
        mdl = self.mdl
        if type(mdl) is bytearray:  # the usual case: one MDL
            view = self._view
            if view is None or view.obj is not mdl:
                view = self._bytes_view()
            view[self.offset : self.offset + n] = data
            return n
        if not isinstance(mdl, Mdl):
            mdl[self.offset : self.offset + n] = data
            return n
        done = 0
        skip = self.offset
        for buffer in mdl_buffers(mdl):
            room = len(buffer) - skip
            if room > 0 and done < n:
                take = min(room, n - done)
                buffer[skip : skip + take] = data[done : done + take]
                done += take
            skip = 0
        return n

    def data(self, information: int) -> Union[memoryview, bytes]:
        """The `information` bytes a completed receive wrote (IoStatus.Information): a view
        of a one-MDL buffer, or the bytes gathered across a chain."""
        mdl = self.mdl
        if type(mdl) is bytearray:
            view = self._view
            if view is None or view.obj is not mdl:
                view = self._bytes_view()
            return view[self.offset : self.offset + information]
        if mdl is None:
            return b""
        if not isinstance(mdl, Mdl):
            return memoryview(mdl)[self.offset : self.offset + information]
        out = bytearray()
        skip = self.offset
        for buffer in mdl_buffers(mdl):
            if len(out) >= information:
                break
            out += buffer[skip : skip + information - len(out)]
            skip = 0
        return bytes(out)


alias(WskBuf, Mdl="mdl", Offset="offset", Length="length")


class SockAddr:
    """A caller-allocated SOCKADDR the provider fills with the remote address."""

    __slots__ = ("family", "host", "port", "flowinfo", "scope_id")

    def __init__(self) -> None:
        self.family = 0
        self.host = ""
        self.port = 0
        self.flowinfo = 0
        self.scope_id = 0

    def set(self, addr: tuple) -> None:
        """Fill from a Python socket address tuple."""
        self.host = addr[0]
        self.port = addr[1]
        if len(addr) > 2:
            self.family = AF_INET6
            self.flowinfo = addr[2]
            self.scope_id = addr[3]
        else:
            self.family = AF_INET
            self.flowinfo = self.scope_id = 0

    def __repr__(self) -> str:
        return f"SockAddr({self.host!r}, {self.port})"


alias(SockAddr, sa_family="family")


class ULongRef:
    """A PULONG: an in/out cell for ControlInfoLength and ControlFlags. `owner`: the last
    IRP a WskReceiveFrom handed it to."""

    __slots__ = ("value", "owner")

    def __init__(self, value: int = 0) -> None:
        self.value = value
        self.owner: Any = None

    def __repr__(self) -> str:
        return f"ULongRef({self.value:#x})"


# Sizes follow 64-bit Windows: a CMSGHDR is {SIZE_T len; INT level; INT type} = 16 bytes and
# data is padded to 8 (WSA_CMSG_SPACE).
CMSGHDR_SIZE = 16


def cmsg_space(data_len: int) -> int:
    """WSA_CMSG_SPACE(data_len) on x64."""
    return CMSGHDR_SIZE + ((data_len + 7) & ~7)


@dataclass(frozen=True)
class PacketInfo:
    """IN_PKTINFO / IN6_PKTINFO: the packet's local (destination) address and interface."""

    address: str
    ifindex: int
    family: int = AF_INET

    @property
    def cmsg(self) -> tuple[int, int]:
        if self.family == AF_INET6:
            return IPPROTO_IPV6, IPV6_PKTINFO
        return IPPROTO_IP, IP_PKTINFO

    @property
    def space(self) -> int:
        return cmsg_space(20 if self.family == AF_INET6 else 8)


@dataclass(frozen=True)
class TimestampingConfig:
    """TIMESTAMPING_CONFIG {Flags, TxTimestampsBuffered} (mstcpip.h), the input of the
    SIO_TIMESTAMPING ioctl: TIMESTAMPING_FLAG_RX turns receive timestamps on."""

    flags: int = TIMESTAMPING_FLAG_RX
    tx_timestamps_buffered: int = 0


class ReceiveTimestamp(NamedTuple):
    """SO_TIMESTAMP ("Winsock timestamping"): a UINT64 counter of when the packet was
    received. Its frequency is TIMESTAMP_FREQUENCY (QueryPerformanceFrequency on Windows);
    the model's counter ticks in nanoseconds since the Unix epoch, so `ns` is the counter.

    Immutable like PacketInfo, but a NamedTuple: one is built for every IRP completion,
    and a frozen dataclass's __init__ costs several times more."""

    counter: int

    cmsg = (SOL_SOCKET, SO_TIMESTAMP)
    space = cmsg_space(8)

    @property
    def ns(self) -> int:
        """The counter in nanoseconds since the epoch (counter * 1e9 / frequency)."""
        return self.counter


_make_tuple = tuple.__new__

# Where multicast destinations lie: 224.0.0.0/4 (RFC 5771), ff00::/8 (RFC 4291).
_MCAST_V4_FIRST = frozenset(str(octet) for octet in range(224, 240))


def cast_flags(local: Optional[tuple[str, int]], broadcast: frozenset[str]) -> int:
    """MSG_BCAST or MSG_MCAST for a datagram whose packet was sent to `local`'s address
    (from IP_PKTINFO/IPV6_PKTINFO), 0 for unicast. `broadcast` holds the host's broadcast
    addresses (the provider knows them; 255.255.255.255 always is one)."""
    if local is None:
        return 0
    address = local[0]
    if address.startswith("::ffff:") and "." in address:  # IPv4 on a dual-stack socket
        address = address[7:]
    if address in broadcast:
        return 0x0400  # MSG_BCAST
    if ":" in address:
        return 0x0800 if address[:2].lower() == "ff" else 0  # MSG_MCAST
    return 0x0800 if address.partition(".")[0] in _MCAST_V4_FIRST else 0
  # skips the NamedTuple's generated __new__
_TS_SPACE = ReceiveTimestamp.space


ControlMessage = Union[PacketInfo, ReceiveTimestamp]


_packet_infos: dict[tuple[tuple[str, int], int], tuple[PacketInfo, int]] = {}


def build_control(
    local: Optional[tuple[str, int]], family: int, timestamp_ns: Optional[int], capacity: int
) -> tuple[list[ControlMessage], int, bool]:
    """Control messages for one datagram that fit in `capacity` bytes.

    Returns (messages, bytes used, truncated): whole messages only, in the order the
    provider produces them; `truncated` means at least one did not fit (MSG_CTRUNC).
    """
    if local is None:  # timestamps only: what an application that wants no PKTINFO gets
        if timestamp_ns is None:
            return [], 0, False
        if capacity >= _TS_SPACE:
            return [_make_tuple(ReceiveTimestamp, (timestamp_ns,))], _TS_SPACE, False
        return [], 0, True
    messages: list[ControlMessage] = []
    if local is not None:
        # PacketInfo is immutable and a socket sees few distinct ones: build each once.
        entry = _packet_infos.get((local, family))
        if entry is None:
            if len(_packet_infos) >= 1024:
                _packet_infos.clear()
            info = PacketInfo(local[0], local[1], family)
            entry = _packet_infos[(local, family)] = (info, info.space)
        if timestamp_ns is not None and entry[1] + _TS_SPACE <= capacity:
            # Both fit (every receive that asks for control data the usual way).
            return [entry[0], _make_tuple(ReceiveTimestamp, (timestamp_ns,))], entry[1] + _TS_SPACE, False
        messages.append(entry[0])
    if timestamp_ns is not None:
        messages.append(_make_tuple(ReceiveTimestamp, (timestamp_ns,)))
    kept: list[ControlMessage] = []
    used = 0
    for msg in messages:
        if used + msg.space > capacity:
            return kept, used, True
        kept.append(msg)
        used += msg.space
    return kept, used, False


__all__ = [
    "AF_INET",
    "AF_INET6",
    "Buffer",
    "Mdl",
    "ControlMessage",
    "PacketInfo",
    "ReceiveTimestamp",
    "SockAddr",
    "TimestampingConfig",
    "ULongRef",
    "WskBuf",
    "alias",
    "build_control",
    "cast_flags",
    "cmsg_space",
    "mdl_buffers",
]
