"""The WSK and WDM functions as a client calls them: the provider's dispatch tables.

`WskReceiveFrom(Socket, ...)` and `Socket.Dispatch.WskReceiveFrom(Socket, ...)` are the same
function (`WSK_PROVIDER_DATAGRAM_DISPATCH`), as `ProviderNpi.Dispatch.WskControlClient`
is `WskControlClient`: a driver's code ports line for line. wskrecv.client re-exports
them; the model's methods (socket.receive_from...) stay the provider's side.

Each function is where a client's call enters wskrecv, so it decides whose fault an
exception is:

- a rule the call breaks (WskApiViolation raised by the model for the call itself) is
  counted by the verifier and the call fails with STATUS_INVALID_PARAMETER, changing
  nothing else (VOID routines count and return);
- an exception out of client code the call ran (a completion routine, a callback)
  passes through unchanged: it is the client's;
- an argument of the wrong kind (a Buffer that is no WSK_BUF...) is a TypeError naming
  it, raised at the client's line: the client's;
- any other exception inside wskrecv's own code is a WskrecvBug ("a wskrecv bug: please
  report"): never charged to the client.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, Callable, NoReturn, Optional

from wskrecv.wsk.indication import WskDatagramIndication
from wskrecv.wsk.irp import (
    Irp,
    io_allocate_irp,
    io_cancel_irp,
    io_free_irp,
    io_reuse_irp,
    io_set_completion_routine,
)
from wskrecv.wsk.irql import (
    KernelEvent,
    NotificationEvent,
    SynchronizationEvent,
    ke_wait_for_single_object,
)
from wskrecv.wsk.registration import WskProviderNpi, registered_irps
from wskrecv.wsk.socket import WskDatagramSocket
from wskrecv.wsk.status import (
    NTSTATUS,
    STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
)
from wskrecv.wsk.types import Mdl, SockAddr, ULongRef, WskBuf
from wskrecv.wsk.verifier import WskApiViolation, WskrecvBug

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # wskrecv/
_MODEL = os.path.join(_PACKAGE, "wsk")
_STDLIB = tuple({os.path.dirname(os.__file__), sys.prefix, sys.base_prefix})

# (parameter name, value, the types it may have) for the argument check.
Checks = Sequence[tuple[str, Any, Any]]


def _frames(exc: BaseException) -> list[str]:
    """The files of the frames `exc` passed through below the function that caught it."""
    tb = exc.__traceback__
    tb = tb.tb_next if tb is not None else None  # skip the dispatch function's own frame
    out = []
    while tb is not None:
        out.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    return out


def _in_wskrecv(exc: BaseException) -> bool:
    """Whether `exc` was raised inside wskrecv's own code (every frame below the call is
    wskrecv's, or the standard library's that wskrecv called), not in client code the
    call ran."""
    files = _frames(exc)
    return bool(files) and all(f.startswith(_PACKAGE) or f.startswith(_STDLIB) for f in files)


def _fail(exc: WskApiViolation) -> NTSTATUS:
    """A rule the call broke: counted already; the call fails. A violation raised by
    client code the call ran (its routine broke a rule of its own) is that code's."""
    files = _frames(exc)
    if files and all(f.startswith(_MODEL) for f in files):
        return STATUS_INVALID_PARAMETER
    raise exc


class WskArgumentError(TypeError):
    """An argument of the wrong kind for a WSK or WDM function: the client's mistake, raised
    at its call (in C the compiler refuses it)."""


def _boundary(exc: BaseException, call: str, checks: Checks) -> NoReturn:
    """Re-raise `exc` as whose fault it is (see the module docstring)."""
    if not isinstance(exc, Exception) or not _in_wskrecv(exc):
        raise exc  # KeyboardInterrupt, a watchdog's ClientStuck, a WskrecvBug; client code
    for name, value, kinds in checks:
        if not isinstance(value, kinds):
            wanted = " or ".join(k.__name__ if k is not type(None) else "None"
                                 for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
            raise WskArgumentError(
                f"{call}: {name} must be {wanted}, not {type(value).__name__}") from None
    raise WskrecvBug(f"{call}: {type(exc).__name__}: {exc} (a wskrecv bug: please report)") from exc


_OPTIONAL_ULONG = (ULongRef, type(None))

# -- WSK_PROVIDER_DATAGRAM_DISPATCH ---------------------------------------------------------


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
    except BaseException as exc:
        _boundary(exc, "WskReceiveFrom", (
            ("Socket", Socket, WskDatagramSocket), ("Buffer", Buffer, WskBuf),
            ("Flags", Flags, int), ("RemoteAddress", RemoteAddress, (SockAddr, type(None))),
            ("ControlInfoLength", ControlInfoLength, _OPTIONAL_ULONG),
            ("ControlInfo", ControlInfo, (list, type(None))),
            ("ControlFlags", ControlFlags, _OPTIONAL_ULONG), ("Irp", Irp, _Irp)))


def WskRelease(Socket: WskDatagramSocket, DataIndication: WskDatagramIndication) -> NTSTATUS:
    """PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST: give back a list (up to a Next of None)
    the callback retained with STATUS_PENDING. From any thread."""
    try:
        return Socket.release(DataIndication)
    except WskApiViolation as exc:
        return _fail(exc)
    except BaseException as exc:
        _boundary(exc, "WskRelease", (("Socket", Socket, WskDatagramSocket),))


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
        return Socket.control_socket(RequestType, ControlCode, Level, InputBuffer, Irp)
    except WskApiViolation as exc:
        return _fail(exc)
    except BaseException as exc:
        _boundary(exc, "WskControlSocket", (
            ("Socket", Socket, WskDatagramSocket), ("RequestType", RequestType, int),
            ("ControlCode", ControlCode, int), ("Level", Level, int),
            ("Irp", Irp, (_Irp, type(None)))))


def WskCloseSocket(Socket: WskDatagramSocket, Irp: Optional[Irp] = None) -> NTSTATUS:
    """PFN_WSK_CLOSE_SOCKET: cancels every outstanding receive (their completion routines
    see STATUS_CANCELLED); lists still retained become leaks. Release them first."""
    try:
        return Socket.close(Irp)
    except WskApiViolation as exc:
        return _fail(exc)
    except BaseException as exc:
        _boundary(exc, "WskCloseSocket", (
            ("Socket", Socket, WskDatagramSocket), ("Irp", Irp, (_Irp, type(None)))))


class WskProviderDatagramDispatch:
    """WSK_PROVIDER_DATAGRAM_DISPATCH: a datagram socket's `Dispatch` (the receive side)."""

    __slots__ = ()
    WskReceiveFrom = staticmethod(WskReceiveFrom)
    WskRelease = staticmethod(WskRelease)
    WskControlSocket = staticmethod(WskControlSocket)
    WskCloseSocket = staticmethod(WskCloseSocket)


DATAGRAM_DISPATCH = WskProviderDatagramDispatch()
WskDatagramSocket.Dispatch = DATAGRAM_DISPATCH  # the provider fills in WSK_SOCKET.Dispatch

# -- WSK_PROVIDER_DISPATCH (the client level) ----------------------------------------------


def WskControlClient(Client: WskProviderNpi, ControlCode: int, InputBuffer: Any,
                     Irp: Optional[Irp] = None) -> NTSTATUS:
    """PFN_WSK_CONTROL_CLIENT: WSK_SET_STATIC_EVENT_CALLBACKS (a WSK_EVENT_CALLBACK_CONTROL,
    no IRP) before any socket exists; `Client` is the provider NPI's Client.
    InputSize and the output parameters are implied by the Python objects."""
    try:
        if Irp is not None:
            return STATUS_INVALID_PARAMETER  # WSK_SET_STATIC_EVENT_CALLBACKS takes no IRP
        return Client.control_client(ControlCode, InputBuffer)
    except WskApiViolation as exc:
        return _fail(exc)
    except BaseException as exc:
        _boundary(exc, "WskControlClient", (
            ("Client", Client, WskProviderNpi), ("ControlCode", ControlCode, int)))


class WskProviderDispatch:
    """WSK_PROVIDER_DISPATCH: the provider NPI's `Dispatch` (what a client uses of it)."""

    __slots__ = ()
    WskControlClient = staticmethod(WskControlClient)


PROVIDER_DISPATCH = WskProviderDispatch()
WskProviderNpi.Dispatch = PROVIDER_DISPATCH  # ... and WSK_PROVIDER_NPI.Dispatch

# -- WDM: IRPs -----------------------------------------------------------------------------

_Irp = Irp  # the parameters below are named after the WDK's, `Irp` among them


def IoAllocateIrp(StackSize: int = 1, ChargeQuota: bool = False) -> Optional[Irp]:
    """IoAllocateIrp: a new IRP the client owns (and frees with IoFreeIrp): counted as the
    registered client's until then; None (NULL) when the allocation fails (`--inject
    alloc`, as Driver Verifier's Low Resources Simulation makes it fail). StackSize is at
    least 1 for a WSK request (IrpWithoutStackLocation otherwise)."""
    try:
        return io_allocate_irp(registered_irps(), StackSize)
    except WskApiViolation:
        raise  # no client registered to count it: the model's caller sees the rule
    except BaseException as exc:
        _boundary(exc, "IoAllocateIrp", (("StackSize", StackSize, int),))


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
    client's). WSK wants all three Invoke flags TRUE for an IRP the client allocated: a
    WSK call with any of them FALSE is IrpWithoutCompletionRoutine. IoReuseIrp clears the
    routine: set it again before each reuse."""
    try:
        io_set_completion_routine(Irp, CompletionRoutine, Context, InvokeOnSuccess,
                                  InvokeOnError, InvokeOnCancel)
    except BaseException as exc:
        _boundary(exc, "IoSetCompletionRoutine", (("Irp", Irp, _Irp),))


def IoReuseIrp(Irp: Irp, Iostatus: int = STATUS_SUCCESS) -> None:
    """IoReuseIrp: make a completed IRP submittable again."""
    try:
        io_reuse_irp(Irp, Iostatus)
    except WskApiViolation as exc:
        _fail(exc)
    except BaseException as exc:
        _boundary(exc, "IoReuseIrp", (("Irp", Irp, _Irp),))


def IoFreeIrp(Irp: Irp) -> None:
    """IoFreeIrp: the client is done with its IRP."""
    try:
        io_free_irp(Irp)
    except WskApiViolation as exc:
        _fail(exc)
    except BaseException as exc:
        _boundary(exc, "IoFreeIrp", (("Irp", Irp, _Irp),))


def IoCancelIrp(Irp: Irp) -> bool:
    """IoCancelIrp: sets the IRP's Cancel bit; a pending receive completes with
    STATUS_CANCELLED. True when it was pending and cancellable; cancelling one that
    already completed is harmless (False). A freed IRP: IrpUsedAfterFree (False)."""
    try:
        return io_cancel_irp(Irp)
    except WskApiViolation as exc:
        _fail(exc)
        return False
    except BaseException as exc:
        _boundary(exc, "IoCancelIrp", (("Irp", Irp, _Irp),))


# -- WDM: memory and events ----------------------------------------------------------------


def MmGetSystemAddressForMdlSafe(Mdl: Mdl, Priority: int = 0) -> Any:
    """The memory an MDL describes: an indication's Buffer.Mdl gives the provider's
    memory, readable until the indication goes back (a read after is UseAfterRelease, or
    fails on a view kept past it)."""
    return Mdl.buffer


def MmGetMdlByteCount(Mdl: Mdl) -> int:
    """The bytes the MDL describes."""
    return Mdl.byte_count


KEVENT = KernelEvent  # a kernel event (KeInitializeEvent, KeSetEvent, KeWaitForSingleObject)
Executive, KernelMode, IO_NO_INCREMENT = 0, 0, 0


def KeInitializeEvent(Event: KEVENT, Type: int = NotificationEvent, State: bool = False) -> None:
    """KeInitializeEvent: a NotificationEvent stays signalled until cleared; a
    SynchronizationEvent is reset by the wait it satisfies. Signalled when State is TRUE."""
    Event.initialize(Type, State)


def KeSetEvent(Event: KEVENT, Increment: int = IO_NO_INCREMENT, Wait: bool = False) -> int:
    """KeSetEvent: signal the event; returns its previous state (0: not signalled)."""
    return int(Event.set())


def KeClearEvent(Event: KEVENT) -> None:
    """KeClearEvent."""
    Event.clear()


def KeWaitForSingleObject(Object: KEVENT, WaitReason: int = Executive, WaitMode: int = KernelMode,
                          Alertable: bool = False, Timeout: Optional[float] = None) -> NTSTATUS:
    """KeWaitForSingleObject: wait for the event (Timeout in seconds; None: for ever, 0: a
    poll). STATUS_SUCCESS once signalled, STATUS_TIMEOUT if the time ran out. Inside a
    receive callback or completion routine a wait is a rule break (WaitInCallback,
    WaitAtDispatchLevel): the wait does not happen, the rule's exception is raised."""
    return STATUS_SUCCESS if ke_wait_for_single_object(Object, Timeout) else STATUS_TIMEOUT


__all__ = [
    "DATAGRAM_DISPATCH",
    "IO_NO_INCREMENT",
    "KEVENT",
    "PROVIDER_DISPATCH",
    "Executive",
    "IoAllocateIrp",
    "IoCancelIrp",
    "IoFreeIrp",
    "IoReuseIrp",
    "IoSetCompletionRoutine",
    "KeClearEvent",
    "KeInitializeEvent",
    "KeSetEvent",
    "KeWaitForSingleObject",
    "KernelMode",
    "MmGetMdlByteCount",
    "MmGetSystemAddressForMdlSafe",
    "NotificationEvent",
    "SynchronizationEvent",
    "WskArgumentError",
    "WskCloseSocket",
    "WskControlClient",
    "WskControlSocket",
    "WskProviderDatagramDispatch",
    "WskProviderDispatch",
    "WskReceiveFrom",
    "WskRelease",
]
