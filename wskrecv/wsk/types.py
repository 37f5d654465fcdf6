"""WSK_BUF, SOCKADDR, out-parameter cells and control messages (CMSGHDR)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Union

from wskrecv.wsk.status import (
    AF_INET,
    AF_INET6,
    IP_PKTINFO,
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPV6_PKTINFO,
    SO_TIMESTAMP,
    SOL_SOCKET,
)

Buffer = Union[bytearray, memoryview]


class WskBuf:
    """WSK_BUF {Mdl, Offset, Length}: where a receive may write, and at most how much."""

    __slots__ = ("mdl", "offset", "length")

    def __init__(self, mdl: Buffer, offset: int = 0, length: Optional[int] = None) -> None:
        self.mdl = mdl
        self.offset = offset
        self.length = len(mdl) - offset if length is None else length

    def is_valid(self) -> bool:
        """Offset and Length describe bytes that lie inside the MDL."""
        return self.offset >= 0 and self.length >= 0 and self.offset + self.length <= len(self.mdl)

    def data(self, information: int) -> memoryview:
        """The `information` bytes a completed receive wrote (IoStatus.Information)."""
        return memoryview(self.mdl)[self.offset : self.offset + information]


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


class ULongRef:
    """A PULONG: an in/out cell for ControlInfoLength and ControlFlags."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value

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


class ReceiveTimestamp(NamedTuple):
    """SO_TIMESTAMP: when the kernel received the packet (nanoseconds since the epoch).

    Immutable like PacketInfo, but a NamedTuple: one is built for every IRP completion,
    and a frozen dataclass's __init__ costs several times more."""

    ns: int

    cmsg = (SOL_SOCKET, SO_TIMESTAMP)
    space = cmsg_space(8)


_make_tuple = tuple.__new__  # skips the NamedTuple's generated __new__
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
    "ControlMessage",
    "PacketInfo",
    "ReceiveTimestamp",
    "SockAddr",
    "ULongRef",
    "WskBuf",
    "build_control",
    "cmsg_space",
]
