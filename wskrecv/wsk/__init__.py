"""A sans-I/O model of the Windows Winsock Kernel (WSK) datagram receive API.

Nothing in this package touches a socket, a thread, a clock or a terminal: the provider
(`wskrecv.provider`) feeds it datagrams and it calls the application's completion routines
and event callbacks. Names follow WSK and WDM; see the mapping table in the README.
"""

from wskrecv.wsk.datagram import Datagram, make_datagram
from wskrecv.wsk.indication import (
    WskClientDatagramDispatch,
    WskDatagramIndication,
    WskEventCallbackControl,
)
from wskrecv.wsk.irp import (
    IoStatus,
    Irp,
    io_allocate_irp,
    io_cancel_irp,
    io_complete_request,
    io_free_irp,
    io_reuse_irp,
    io_set_completion_routine,
)
from wskrecv.wsk.pool import BufferPool
from wskrecv.wsk.socket import SocketState, WskDatagramSocket
from wskrecv.wsk.status import (
    MSG_BCAST,
    MSG_CTRUNC,
    MSG_MCAST,
    MSG_TRUNC,
    NTSTATUS,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_BUFFER_OVERFLOW,
    STATUS_CANCELLED,
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_PARAMETER,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_EVENT_DISABLE,
    WSK_EVENT_RECEIVE_FROM,
    WSK_FLAG_AT_DISPATCH_LEVEL,
    ControlFlags,
    WskSetOption,
    nt_success,
    status_name,
)
from wskrecv.wsk.types import PacketInfo, ReceiveTimestamp, SockAddr, ULongRef, WskBuf
from wskrecv.wsk.verifier import Verifier, WskApiViolation

__all__ = [
    "MSG_BCAST",
    "MSG_CTRUNC",
    "MSG_MCAST",
    "MSG_TRUNC",
    "NTSTATUS",
    "STATUS_BUFFER_OVERFLOW",
    "STATUS_CANCELLED",
    "STATUS_DATA_NOT_ACCEPTED",
    "STATUS_FILE_FORCED_CLOSED",
    "STATUS_INSUFFICIENT_RESOURCES",
    "STATUS_INVALID_PARAMETER",
    "STATUS_MORE_PROCESSING_REQUIRED",
    "STATUS_PENDING",
    "STATUS_SUCCESS",
    "SOL_SOCKET",
    "SO_WSK_EVENT_CALLBACK",
    "WSK_EVENT_DISABLE",
    "WSK_EVENT_RECEIVE_FROM",
    "WSK_FLAG_AT_DISPATCH_LEVEL",
    "BufferPool",
    "ControlFlags",
    "Datagram",
    "IoStatus",
    "Irp",
    "PacketInfo",
    "ReceiveTimestamp",
    "SockAddr",
    "SocketState",
    "ULongRef",
    "Verifier",
    "WskApiViolation",
    "WskBuf",
    "WskClientDatagramDispatch",
    "WskDatagramIndication",
    "WskDatagramSocket",
    "WskEventCallbackControl",
    "WskSetOption",
    "io_allocate_irp",
    "io_cancel_irp",
    "io_complete_request",
    "io_free_irp",
    "io_reuse_irp",
    "io_set_completion_routine",
    "make_datagram",
    "nt_success",
    "status_name",
]
