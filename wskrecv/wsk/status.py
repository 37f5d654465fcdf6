"""NTSTATUS codes and WSK/Winsock constants, with their real Windows values."""

from __future__ import annotations

from enum import IntEnum, IntFlag


class NTSTATUS(IntEnum):
    """The NTSTATUS values the WSK datagram API uses."""

    SUCCESS = 0x00000000
    PENDING = 0x00000103
    BUFFER_OVERFLOW = 0x80000005
    INVALID_PARAMETER = 0xC000000D
    MORE_PROCESSING_REQUIRED = 0xC0000016
    INSUFFICIENT_RESOURCES = 0xC000009A
    FILE_FORCED_CLOSED = 0xC00000B6
    CANCELLED = 0xC0000120
    DATA_NOT_ACCEPTED = 0xC000021B

    def __str__(self) -> str:
        return f"STATUS_{self.name} (0x{self.value:08X})"


STATUS_SUCCESS = NTSTATUS.SUCCESS
STATUS_PENDING = NTSTATUS.PENDING
STATUS_BUFFER_OVERFLOW = NTSTATUS.BUFFER_OVERFLOW
STATUS_INVALID_PARAMETER = NTSTATUS.INVALID_PARAMETER
STATUS_MORE_PROCESSING_REQUIRED = NTSTATUS.MORE_PROCESSING_REQUIRED
STATUS_INSUFFICIENT_RESOURCES = NTSTATUS.INSUFFICIENT_RESOURCES
STATUS_FILE_FORCED_CLOSED = NTSTATUS.FILE_FORCED_CLOSED
STATUS_CANCELLED = NTSTATUS.CANCELLED
STATUS_DATA_NOT_ACCEPTED = NTSTATUS.DATA_NOT_ACCEPTED


def nt_success(status: int) -> bool:
    """NT_SUCCESS(): true for success and informational codes (severity bits 00 or 01)."""
    return 0 <= status < 0x80000000


def status_name(status: int) -> str:
    """Name an NTSTATUS for humans, falling back to hex for unknown codes."""
    try:
        return str(NTSTATUS(status))
    except ValueError:
        return f"0x{status & 0xFFFFFFFF:08X}"


class ControlFlags(IntFlag):
    """Windows ControlFlags bits reported by WskReceiveFrom (not the Linux values)."""

    NONE = 0
    MSG_TRUNC = 0x0100
    MSG_CTRUNC = 0x0200
    MSG_BCAST = 0x0400
    MSG_MCAST = 0x0800


MSG_TRUNC = ControlFlags.MSG_TRUNC
MSG_CTRUNC = ControlFlags.MSG_CTRUNC
MSG_BCAST = ControlFlags.MSG_BCAST
MSG_MCAST = ControlFlags.MSG_MCAST

WSK_FLAG_AT_DISPATCH_LEVEL = 0x8

# WSK_CONTROL_SOCKET_TYPE: WskControlSocket's RequestType (wsk.h).
WskSetOption = 0
WskGetOption = 1
WskIoctl = 2

# SO_WSK_EVENT_CALLBACK and the WSK_EVENT_* bits (wsk.h).
SO_WSK_EVENT_CALLBACK = 0x0007
WSK_EVENT_RECEIVE_FROM = 0x00000100
WSK_EVENT_DISABLE = 0x80000000

# Windows socket-level and IP-level control message identifiers (ws2def.h / ws2ipdef.h).
SOL_SOCKET = 0xFFFF
SO_TIMESTAMP = 0x300A
IPPROTO_IP = 0
IPPROTO_IPV6 = 41
IP_PKTINFO = 19
IPV6_PKTINFO = 19
AF_INET = 2
AF_INET6 = 23
