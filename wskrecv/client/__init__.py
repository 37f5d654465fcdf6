"""The WSK client API: what a receive client imports, spelled as a driver spells it.

    from wskrecv.client import *

A client is a class with a start hook and a stop hook, run by `wskrecv run CLIENT.py`
(and by `wskrecv listen` / `wskrecv event`, whose applications are two such clients):

    class MyClient:
        dispatch = None        # or WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=...)
        def attach(self, npi): ...     # optional: registered, no socket yet (WskControlClient)
        def start(self, socket): ...   # the socket is created and bound: post receives,
                                       # enable the receive event callback
        def stop(self): ...            # give back what you hold; WskCloseSocket if you like

`dispatch` and `socket_context` (default: the client object) are what a driver passes to
WskSocket; wskrecv registers the client (WskRegister), hands `attach` the provider NPI
(`npi.Dispatch.WskControlClient(npi.Client, WSK_SET_STATIC_EVENT_CALLBACKS, ...)`),
creates and binds the socket, then calls `start`. Everything else, the client registers
itself: completion routines with IoSetCompletionRoutine, the receive callback with
WskControlSocket(SO_WSK_EVENT_CALLBACK).

The functions take the socket first and return an NTSTATUS, as in C; they are also the
socket's `Dispatch` table (`Socket.Dispatch.WskReceiveFrom(...)`), and the structures
carry the WDK's member names (`Irp.IoStatus.Status`, `DataIndication.Next`,
`WSK_BUF.Mdl`...), so C ports line for line. A call that breaks a WSK rule is counted by
the verifier (rule and the caller's file:line) and fails with STATUS_INVALID_PARAMETER,
changing nothing else (in a driver: a Driver Verifier bugcheck, or undefined behaviour
without it); VOID routines (IoReuseIrp, IoFreeIrp) count and ignore it. Reading an
indication the client no longer owns raises the rule's exception (`UseAfterRelease`...):
in a driver, a use after free. An exception inside wskrecv's own code is a WskrecvBug,
never the client's fault.

This module is the stable surface: names here keep their meaning across releases. The
model behind it is `wskrecv.wsk`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, Optional, Protocol

from wskrecv.wsk.counters import SocketStatistics
from wskrecv.wsk.dispatch import (
    IO_NO_INCREMENT,
    KEVENT,
    Executive,
    IoAllocateIrp,
    IoCancelIrp,
    IoFreeIrp,
    IoReuseIrp,
    IoSetCompletionRoutine,
    KeClearEvent,
    KeInitializeEvent,
    KernelMode,
    KeSetEvent,
    KeWaitForSingleObject,
    MmGetMdlByteCount,
    MmGetSystemAddressForMdlSafe,
    NotificationEvent,
    SynchronizationEvent,
    WskCloseSocket,
    WskControlClient,
    WskControlSocket,
    WskProviderDatagramDispatch,
    WskProviderDispatch,
    WskReceiveFrom,
    WskRelease,
)
from wskrecv.wsk.indication import (
    WskClientDatagramDispatch,
    WskDatagramIndication,
    WskEventCallbackControl,
)
from wskrecv.wsk.irp import CompletionRoutine, IoStatus, Irp
from wskrecv.wsk.registration import WskProviderNpi
from wskrecv.wsk.socket import WskDatagramSocket
from wskrecv.wsk.status import (
    AF_INET,
    AF_INET6,
    IP_PKTINFO,
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPV6_PKTINFO,
    MSG_BCAST,
    MSG_CTRUNC,
    MSG_MCAST,
    MSG_TRUNC,
    NTSTATUS,
    SIO_TIMESTAMPING,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_BUFFER_OVERFLOW,
    STATUS_CANCELLED,
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_EVENT_PENDING,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_PARAMETER,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
    TIMESTAMP_FREQUENCY,
    TIMESTAMPING_FLAG_RX,
    WSK_EVENT_DISABLE,
    WSK_EVENT_RECEIVE_FROM,
    WSK_FLAG_AT_DISPATCH_LEVEL,
    WSK_SET_STATIC_EVENT_CALLBACKS,
    WskIoctl,
    WskSetOption,
    nt_success,
    status_name,
)
from wskrecv.wsk.types import (
    Mdl,
    PacketInfo,
    ReceiveTimestamp,
    SockAddr,
    TimestampingConfig,
    ULongRef,
    WskBuf,
    cmsg_space,
)
from wskrecv.wsk.verifier import WskApiViolation

# The C type names, for clients that like to write them.
IRP = Irp
IO_STATUS_BLOCK = IoStatus
WSK_BUF = WskBuf
SOCKADDR = SockAddr
ULONG = ULongRef
WSK_SOCKET = WskDatagramSocket
TIMESTAMPING_CONFIG = TimestampingConfig
CMSG_SPACE = cmsg_space
WSK_DATAGRAM_INDICATION = WskDatagramIndication
PFN_WSK_RECEIVE_FROM_EVENT = Callable[[Any, int, Optional[WskDatagramIndication]], int]
IO_COMPLETION_ROUTINE = CompletionRoutine
MDL = Mdl
WSK_PROVIDER_NPI = WskProviderNpi
WSK_PROVIDER_DATAGRAM_DISPATCH = WskProviderDatagramDispatch
WSK_PROVIDER_DISPATCH = WskProviderDispatch


class WskClient(Protocol):
    """The shape `wskrecv run` loads: created with no arguments, then started and stopped."""

    def start(self, socket: WskDatagramSocket) -> None:
        """The socket is created (with `dispatch`, `socket_context`) and bound."""

    def stop(self) -> None:
        """The run is over: give back what the client holds (the socket closes after)."""


def NT_SUCCESS(Status: int) -> bool:
    """NT_SUCCESS: success and informational statuses (STATUS_PENDING included)."""
    return nt_success(Status)


# -- WSK_DATAGRAM_INDICATION lists and control information --------------------------------


def indications(DataIndication: Optional[WskDatagramIndication]) -> Iterator[WskDatagramIndication]:
    """Walk a list through Next, as `for (p = head; p != NULL; p = next)` with `next`
    read before the body runs: the body may cut the list after `p` (`p.next = None`)."""
    ind = DataIndication
    while ind is not None:
        nxt = ind.next
        yield ind
        ind = nxt


def control_timestamp(ControlInfo: Optional[list]) -> Optional[int]:
    """The kernel receive timestamp (ns) among a datagram's control messages, if present."""
    for msg in ControlInfo or ():
        if type(msg) is ReceiveTimestamp:
            return msg.ns
    return None


def control_local(ControlInfo: Optional[list]) -> Optional[str]:
    """The datagram's local (destination) address from IN_PKTINFO/IN6_PKTINFO, if present."""
    for msg in ControlInfo or ():
        if type(msg) is PacketInfo:
            return msg.address
    return None


def WSK_CLIENT_DATAGRAM_DISPATCH(
    WskReceiveFromEvent: Optional[PFN_WSK_RECEIVE_FROM_EVENT] = None,
) -> WskClientDatagramDispatch:
    """The event callbacks a datagram client offers (a client's `dispatch`)."""
    return WskClientDatagramDispatch(receive_from_event=WskReceiveFromEvent)


def WSK_EVENT_CALLBACK_CONTROL(EventMask: int = WSK_EVENT_RECEIVE_FROM) -> WskEventCallbackControl:
    """The input of WskControlSocket(SO_WSK_EVENT_CALLBACK): WSK_EVENT_RECEIVE_FROM enables
    the receive callback, WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE disables it."""
    return WskEventCallbackControl(event_mask=EventMask)


__all__ = [
    # WSK functions (also a socket's Dispatch, the provider NPI's Dispatch) and WDM routines
    "WskReceiveFrom", "WskRelease", "WskControlSocket", "WskCloseSocket", "WskControlClient",
    "IoAllocateIrp", "IoFreeIrp", "IoSetCompletionRoutine", "IoReuseIrp", "IoCancelIrp",
    "MmGetSystemAddressForMdlSafe", "MmGetMdlByteCount",
    "KEVENT", "KeInitializeEvent", "KeSetEvent", "KeClearEvent", "KeWaitForSingleObject",
    "NotificationEvent", "SynchronizationEvent", "Executive", "KernelMode", "IO_NO_INCREMENT",
    "NT_SUCCESS",
    # structures and their constructors
    "IRP", "Irp", "IO_STATUS_BLOCK", "IoStatus", "WSK_BUF", "WskBuf", "SOCKADDR", "SockAddr",
    "ULONG", "ULongRef", "WSK_SOCKET", "WskDatagramSocket", "MDL", "Mdl",
    "WSK_PROVIDER_NPI", "WskProviderNpi", "WSK_PROVIDER_DATAGRAM_DISPATCH",
    "WSK_PROVIDER_DISPATCH",
    "WSK_DATAGRAM_INDICATION", "WskDatagramIndication", "WSK_CLIENT_DATAGRAM_DISPATCH",
    "WskClientDatagramDispatch", "WSK_EVENT_CALLBACK_CONTROL", "WskEventCallbackControl",
    "PFN_WSK_RECEIVE_FROM_EVENT", "IO_COMPLETION_ROUTINE", "PacketInfo", "ReceiveTimestamp",
    "TIMESTAMPING_CONFIG", "TimestampingConfig", "CMSG_SPACE",
    # list traversal and control information
    "indications", "control_timestamp", "control_local",
    # the client's shape, its socket's counts (`socket.statistics()`), the verifier's
    # exception base
    "WskClient", "SocketStatistics", "WskApiViolation",
    # NTSTATUS values
    "NTSTATUS", "STATUS_SUCCESS", "STATUS_PENDING", "STATUS_BUFFER_OVERFLOW",
    "STATUS_INVALID_PARAMETER", "STATUS_MORE_PROCESSING_REQUIRED",
    "STATUS_INSUFFICIENT_RESOURCES", "STATUS_FILE_FORCED_CLOSED", "STATUS_CANCELLED",
    "STATUS_DATA_NOT_ACCEPTED", "STATUS_EVENT_PENDING", "STATUS_TIMEOUT", "status_name",
    # flags and option constants
    "MSG_TRUNC", "MSG_CTRUNC", "MSG_BCAST", "MSG_MCAST", "WSK_FLAG_AT_DISPATCH_LEVEL",
    "SO_WSK_EVENT_CALLBACK", "SOL_SOCKET", "WSK_EVENT_RECEIVE_FROM", "WSK_EVENT_DISABLE",
    "WSK_SET_STATIC_EVENT_CALLBACKS",
    "WskSetOption", "WskIoctl",
    # control information on request (IP_PKTINFO / IPV6_PKTINFO, SIO_TIMESTAMPING)
    "IP_PKTINFO", "IPV6_PKTINFO", "IPPROTO_IP", "IPPROTO_IPV6", "AF_INET", "AF_INET6",
    "SIO_TIMESTAMPING", "TIMESTAMPING_FLAG_RX", "TIMESTAMP_FREQUENCY",
]
