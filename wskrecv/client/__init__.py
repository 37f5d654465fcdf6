"""The WSK client API: what a receive client imports, spelled as a driver spells it.

    from wskrecv.client import *

A client is a class with a start hook and a stop hook, run by `wskrecv run CLIENT.py`
(and by `wskrecv listen` / `wskrecv event`, whose applications are two such clients):

    class MyClient:
        dispatch = None        # or WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=...)
        def start(self, socket): ...   # the socket is created and bound: post receives,
                                       # enable the receive event callback
        def stop(self): ...            # give back what you hold; WskCloseSocket if you like

`dispatch` and `socket_context` (default: the client object) are what a driver passes to
WskSocket; wskrecv creates and binds the socket, then calls `start`. Everything else, the
client registers itself: completion routines with IoSetCompletionRoutine, the receive
callback with WskControlSocket(SO_WSK_EVENT_CALLBACK).

The functions take the socket first and return an NTSTATUS, as in C. A call that breaks
a WSK rule is counted by the verifier (rule and the caller's file:line) and fails with
STATUS_INVALID_PARAMETER, changing nothing (in a driver: a Driver Verifier bugcheck, or
undefined behaviour without it); VOID routines (IoReuseIrp, IoFreeIrp) count and ignore
it. Reading an indication the client no longer owns raises the rule's exception
(`UseAfterRelease`...): in a driver, a use after free.

This module is the stable surface: names here keep their meaning across releases. The
model behind it is `wskrecv.wsk`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, Optional, Protocol

from wskrecv.wsk.counters import SocketStatistics
from wskrecv.wsk.indication import (
    WskClientDatagramDispatch,
    WskDatagramIndication,
    WskEventCallbackControl,
)
from wskrecv.wsk.irp import (
    CompletionRoutine,
    IoStatus,
    Irp,
    io_allocate_irp,
    io_cancel_irp,
    io_free_irp,
    io_reuse_irp,
    io_set_completion_routine,
)
from wskrecv.wsk.registration import registered_irps
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
    TIMESTAMP_FREQUENCY,
    TIMESTAMPING_FLAG_RX,
    WSK_EVENT_DISABLE,
    WSK_EVENT_RECEIVE_FROM,
    WSK_FLAG_AT_DISPATCH_LEVEL,
    WskIoctl,
    WskSetOption,
    nt_success,
    status_name,
)
from wskrecv.wsk.types import (
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


class WskClient(Protocol):
    """The shape `wskrecv run` loads: created with no arguments, then started and stopped."""

    def start(self, socket: WskDatagramSocket) -> None:
        """The socket is created (with `dispatch`, `socket_context`) and bound."""

    def stop(self) -> None:
        """The run is over: give back what the client holds (the socket closes after)."""


def NT_SUCCESS(Status: int) -> bool:
    """NT_SUCCESS: success and informational statuses (STATUS_PENDING included)."""
    return nt_success(Status)


_MODEL = __file__.rsplit("client", 1)[0] + "wsk"  # wskrecv/wsk: the model's own files


def _own(exc: WskApiViolation) -> bool:
    """Whether the model raised `exc` for the call itself (not client code the call ran:
    a completion routine or callback that broke a rule of its own, which propagates)."""
    tb = exc.__traceback__
    tb = tb.tb_next if tb is not None else None  # skip the facade's frame
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_MODEL):
            return False
        tb = tb.tb_next
    return True


def _fail(exc: WskApiViolation) -> NTSTATUS:
    if not _own(exc):
        raise exc
    return STATUS_INVALID_PARAMETER


# -- WSK_PROVIDER_DATAGRAM_DISPATCH -------------------------------------------------------


def WskReceiveFrom(
    Socket: WskDatagramSocket,
    Buffer: WskBuf,
    Flags: int,
    RemoteAddress: Optional[SockAddr],
    ControlInfoLength: Optional[ULongRef],
    ControlInfo: Optional[list],
    ControlFlags: Optional[ULongRef],
    Irp: Irp,
) -> NTSTATUS:
    """PFN_WSK_RECEIVE_FROM: post a receive; the IRP's completion routine sees the result.

    Returns STATUS_PENDING, or the status the request already completed with (the
    completion routine has run before this returns). `Flags` is reserved (0).
    """
    try:
        return Socket.receive_from(
            Buffer, Flags, RemoteAddress, ControlInfoLength, ControlInfo, ControlFlags, Irp
        )
    except WskApiViolation as exc:
        return _fail(exc)


def WskRelease(Socket: WskDatagramSocket, DataIndication: WskDatagramIndication) -> NTSTATUS:
    """PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST: give back a list (up to a Next of None)
    the callback retained with STATUS_PENDING. From any thread."""
    try:
        return Socket.release(DataIndication)
    except WskApiViolation as exc:
        return _fail(exc)


def WskControlSocket(
    Socket: WskDatagramSocket,
    RequestType: int,
    ControlCode: int,
    Level: int,
    InputBuffer: Any,
    Irp: Optional[Irp] = None,
) -> NTSTATUS:
    """PFN_WSK_CONTROL_SOCKET, the input side: e.g. (WskSetOption, SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET, WSK_EVENT_CALLBACK_CONTROL(...)) enables or disables the receive callback.
    InputSize and the output parameters are implied by the Python objects."""
    try:
        if Irp is None:
            return Socket.control_socket(RequestType, ControlCode, Level, InputBuffer)
        return Socket.control_socket(RequestType, ControlCode, Level, InputBuffer, Irp)
    except WskApiViolation as exc:
        return _fail(exc)


def WskCloseSocket(Socket: WskDatagramSocket, Irp: Optional[Irp] = None) -> NTSTATUS:
    """PFN_WSK_CLOSE_SOCKET: cancels every outstanding receive (their completion routines
    see STATUS_CANCELLED); lists still retained become leaks. Release them first."""
    try:
        if Irp is None:
            return Socket.close()
        return Socket.close(Irp)  # type: ignore[call-arg]
    except WskApiViolation as exc:
        return _fail(exc)


# -- WDM: IRPs ----------------------------------------------------------------------------


def IoAllocateIrp(StackSize: int = 1, ChargeQuota: bool = False) -> Irp:
    """IoAllocateIrp: a new IRP the client owns (and frees with IoFreeIrp): counted as the
    registered client's until then."""
    return io_allocate_irp(registered_irps())


def IoSetCompletionRoutine(
    Irp: Irp,
    CompletionRoutine: Callable[[Any, Irp, Any], int],
    Context: Any = None,
    InvokeOnSuccess: bool = True,
    InvokeOnError: bool = True,
    InvokeOnCancel: bool = True,
) -> None:
    """IoSetCompletionRoutine: `CompletionRoutine(DeviceObject, Irp, Context)` runs when
    the IRP completes and must return STATUS_MORE_PROCESSING_REQUIRED (the IRP is the
    client's). WSK requires all three Invoke flags TRUE. IoReuseIrp clears the routine:
    set it again before each reuse."""
    if not (InvokeOnSuccess and InvokeOnError and InvokeOnCancel):
        raise ValueError("WSK requires InvokeOnSuccess, InvokeOnError and InvokeOnCancel TRUE")
    io_set_completion_routine(Irp, CompletionRoutine, Context)


def IoReuseIrp(Irp: Irp, Iostatus: int = STATUS_SUCCESS) -> None:
    """IoReuseIrp: make a completed IRP submittable again."""
    try:
        io_reuse_irp(Irp, Iostatus)
    except WskApiViolation as exc:
        _fail(exc)


def IoFreeIrp(Irp: Irp) -> None:
    """IoFreeIrp: the client is done with its IRP."""
    try:
        io_free_irp(Irp)
    except WskApiViolation as exc:
        _fail(exc)


def IoCancelIrp(Irp: Irp) -> bool:
    """IoCancelIrp: a pending receive completes with STATUS_CANCELLED. True when it was
    pending and cancellable; cancelling one that already completed is harmless."""
    return io_cancel_irp(Irp)


# -- WSK_DATAGRAM_INDICATION lists and control information --------------------------------


def indications(DataIndication: Optional[WskDatagramIndication]) -> Iterator[WskDatagramIndication]:
    """Walk a list through Next, as `for (p = head; p != NULL; p = next)` with `next`
    read before the body runs: the body may cut the list after `p` (`p.next = None`)."""
    ind = DataIndication
    while ind is not None:
        nxt = ind.next
        yield ind
        ind = nxt


def control_timestamp(ControlInfo: list) -> Optional[int]:
    """The kernel receive timestamp (ns) among a datagram's control messages, if present."""
    for msg in ControlInfo:
        if type(msg) is ReceiveTimestamp:
            return msg.ns
    return None


def control_local(ControlInfo: list) -> Optional[str]:
    """The datagram's local (destination) address from IN_PKTINFO/IN6_PKTINFO, if present."""
    for msg in ControlInfo:
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
    # WSK functions and WDM routines
    "WskReceiveFrom", "WskRelease", "WskControlSocket", "WskCloseSocket",
    "IoAllocateIrp", "IoFreeIrp", "IoSetCompletionRoutine", "IoReuseIrp", "IoCancelIrp",
    "NT_SUCCESS",
    # structures and their constructors
    "IRP", "Irp", "IO_STATUS_BLOCK", "IoStatus", "WSK_BUF", "WskBuf", "SOCKADDR", "SockAddr",
    "ULONG", "ULongRef", "WSK_SOCKET", "WskDatagramSocket",
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
    "STATUS_DATA_NOT_ACCEPTED", "STATUS_EVENT_PENDING", "status_name",
    # flags and option constants
    "MSG_TRUNC", "MSG_CTRUNC", "MSG_BCAST", "MSG_MCAST", "WSK_FLAG_AT_DISPATCH_LEVEL",
    "SO_WSK_EVENT_CALLBACK", "SOL_SOCKET", "WSK_EVENT_RECEIVE_FROM", "WSK_EVENT_DISABLE",
    "WskSetOption", "WskIoctl",
    # control information on request (IP_PKTINFO / IPV6_PKTINFO, SIO_TIMESTAMPING)
    "IP_PKTINFO", "IPV6_PKTINFO", "IPPROTO_IP", "IPPROTO_IPV6", "AF_INET", "AF_INET6",
    "SIO_TIMESTAMPING", "TIMESTAMPING_FLAG_RX", "TIMESTAMP_FREQUENCY",
]
