"""NTSTATUS codes and WSK/Winsock constants, with their real Windows values.

Every value is checked against the headers in tests/model/test_constants.py: wsk.h
(WDK km/wsk.h: WSK_SO_BASE comes from ws2def.h), ntstatus.h, ws2def.h, ws2ipdef.h and
mstcpip.h (SIO_TIMESTAMPING, TIMESTAMPING_FLAG_*, SO_TIMESTAMP).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class NTSTATUS(IntEnum):
    """The NTSTATUS values the WSK datagram API uses."""

    SUCCESS = 0x00000000
    TIMEOUT = 0x00000102  # KeWaitForSingleObject: the time ran out
    PENDING = 0x00000103
    EVENT_PENDING = 0x40000013
    BUFFER_OVERFLOW = 0x80000005
    INVALID_PARAMETER = 0xC000000D
    MORE_PROCESSING_REQUIRED = 0xC0000016
    NO_MEMORY = 0xC0000017
    INSUFFICIENT_RESOURCES = 0xC000009A
    FILE_FORCED_CLOSED = 0xC00000B6
    CANCELLED = 0xC0000120
    DATA_NOT_ACCEPTED = 0xC000021B
    NETWORK_UNREACHABLE = 0xC000023C
    HOST_UNREACHABLE = 0xC000023D
    PORT_UNREACHABLE = 0xC000023F

    def __str__(self) -> str:
        return f"STATUS_{self.name} (0x{self.value:08X})"


STATUS_SUCCESS = NTSTATUS.SUCCESS
STATUS_PENDING = NTSTATUS.PENDING
STATUS_TIMEOUT = NTSTATUS.TIMEOUT
STATUS_EVENT_PENDING = NTSTATUS.EVENT_PENDING
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

# wsk.h: "the callback was invoked at DISPATCH_LEVEL IRQL" (PFN_WSK_RECEIVE_FROM_EVENT Flags).
WSK_FLAG_AT_DISPATCH_LEVEL = 0x00000008
# wsk.h: WskSocket's Flags for a datagram socket.
WSK_FLAG_DATAGRAM_SOCKET = 0x00000004

# WSK_CONTROL_SOCKET_TYPE: WskControlSocket's RequestType (wsk.h).
WskSetOption = 0
WskGetOption = 1
WskIoctl = 2

# ws2def.h: the base of the WSK-specific socket options; wsk.h defines
# SO_WSK_SECURITY (WSK_SO_BASE+1) and SO_WSK_EVENT_CALLBACK (WSK_SO_BASE+2).
WSK_SO_BASE = 0x4000
SO_WSK_SECURITY = WSK_SO_BASE + 1
SO_WSK_EVENT_CALLBACK = WSK_SO_BASE + 2
# wsk.h: the WSK_EVENT_* bits of WSK_EVENT_CALLBACK_CONTROL.EventMask.
WSK_EVENT_RECEIVE_FROM = 0x00000100
WSK_EVENT_DISABLE = 0x80000000
# wsk.h: WskControlClient control codes ("Client Level Control Codes").
WSK_SET_STATIC_EVENT_CALLBACKS = 7

# Windows socket-level and IP-level control message identifiers (ws2def.h / ws2ipdef.h).
SOL_SOCKET = 0xFFFF
IPPROTO_IP = 0
IPPROTO_IPV6 = 41
IP_PKTINFO = 19
IPV6_PKTINFO = 19
AF_INET = 2
AF_INET6 = 23

# mstcpip.h ("Winsock timestamping"): SIO_TIMESTAMPING = _WSAIOW(IOC_VENDOR, 235) enables
# receive timestamps (TIMESTAMPING_CONFIG.Flags & TIMESTAMPING_FLAG_RX); each datagram then
# carries an SO_TIMESTAMP control message whose data is a UINT64 counter.
SIO_TIMESTAMPING = 0x980000EB
TIMESTAMPING_FLAG_RX = 0x1
TIMESTAMPING_FLAG_TX = 0x2
SO_TIMESTAMP = 0x300A
# The counter's frequency (what QueryPerformanceFrequency returns on Windows, often
# 10 MHz there). The model's counter ticks in nanoseconds since the Unix epoch: divide by
# this frequency, never assume one, as a driver must.
TIMESTAMP_FREQUENCY = 1_000_000_000
