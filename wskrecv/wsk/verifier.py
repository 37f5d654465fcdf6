"""API-rule checks, like Driver Verifier for WSK clients.

Every rule has its own exception class, named after the rule. A violation is always
counted by the socket's `Verifier`; when the offending call came from the application
(submitting, releasing, reusing...) it is also raised at that call. A violation found
after the fact (a completion routine's or event callback's return value) is recorded only:
the application has already returned.

These are the application's faults (h11's LocalProtocolError); bad traffic from the
network is never an API violation, and an exception in wskrecv's own code is never the
application's (`WskrecvBug`). Every class says where its rule comes from (`source`), or
that it is a caution (`kind`): the model's advice where the pages are silent, counted
apart and never failing a run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

# locate(culprit) -> "file:line" of the client code that broke the rule, or None. The
# culprit is the client routine whose *return value* broke it (after-the-fact rules), else
# None: the locator then looks for the client's own frame on the stack (the call).
Locator = Callable[[Optional[Callable[..., Any]]], Optional[str]]


# Where the rules come from (learn.microsoft.com, windows-hardware/drivers; ddi/wsk,
# ddi/wdm and network/ pages): every violation class names its source in `source`.
USING_IRPS = "Using IRPs with Winsock Kernel Functions"


class WskApiViolation(Exception):
    """The receiver code broke a WSK API rule (`kind` "rule": a page, header or Driver
    Verifier states it; `source` names it), or did something the pages are silent about
    that the model warns of (`kind` "caution": counted and shown apart, never failing a
    run)."""

    rule = "WskApiViolation"
    kind = "rule"
    source = ""

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{self.rule}: {detail}" if detail else self.rule)
        self.detail = detail
        self.where: Optional[str] = None  # the client's file:line, when a locator knows it


class IrpAlreadyPending(WskApiViolation):
    """An IRP was submitted while the provider still owns it: only a completed IRP may be
    used again, after IoReuseIrp."""

    rule = "IrpAlreadyPending"
    source = f"{USING_IRPS}; IoReuseIrp"


class IrpNotReused(WskApiViolation):
    """A completed IRP was submitted again without IoReuseIrp ("the WSK application must
    call the IoReuseIrp function to reinitialize the IRP")."""

    rule = "IrpNotReused"
    source = USING_IRPS


class IrpReusedWhilePending(WskApiViolation):
    """IoReuseIrp was called on an IRP the provider still owns (it reinitialises a
    completed IRP)."""

    rule = "IrpReusedWhilePending"
    source = f"IoReuseIrp; {USING_IRPS}"


class IrpFreedWhilePending(WskApiViolation):
    """IoFreeIrp was called on an IRP the provider still owns (an application frees its
    IRP once the IoCompletion routine has been called)."""

    rule = "IrpFreedWhilePending"
    source = f"{USING_IRPS}; IoFreeIrp"


class IrpUsedAfterFree(WskApiViolation):
    """An IRP was used (submitted, reused, freed or cancelled) after IoFreeIrp released
    it."""

    rule = "IrpUsedAfterFree"
    source = "IoFreeIrp; IoCancelIrp"


class IrpWithoutCompletionRoutine(WskApiViolation):
    """An IRP the application allocated was handed to a WSK function without a completion
    routine invoked on success, error and cancel ("must specify TRUE for the
    InvokeOnSuccess, InvokeOnError, and InvokeOnCancel parameters"); IoReuseIrp clears the
    routine, so it is set again after every reuse."""

    rule = "IrpWithoutCompletionRoutine"
    source = USING_IRPS


class IrpWithoutStackLocation(WskApiViolation):
    """IoAllocateIrp with StackSize 0: "the WSK application must allocate the IRP with at
    least one I/O stack location"."""

    rule = "IrpWithoutStackLocation"
    source = f"{USING_IRPS}; IoAllocateIrp"


class RequestBufferInUse(WskApiViolation):
    """A Buffer, ControlLength or ControlFlags of a WskReceiveFrom still pending was handed
    to another request. The page says they must stay valid until the IRP completes; it
    does not forbid sharing them, so the model warns (the two receives write into the
    same memory) and the request goes ahead."""

    rule = "RequestBufferInUse"
    kind = "caution"
    source = "not documented (PFN_WSK_RECEIVE_FROM: valid until the IRP completes)"


class BadCompletionReturn(WskApiViolation):
    """A completion routine returned something other than STATUS_MORE_PROCESSING_REQUIRED
    ("must always return STATUS_MORE_PROCESSING_REQUIRED")."""

    rule = "BadCompletionReturn"
    source = USING_IRPS


class SocketClosed(WskApiViolation):
    """A WSK function was called on a socket after WskCloseSocket was called ("it should
    not make any further calls to any of the socket's functions"), also while the close
    waits for a callback to return, and from inside that callback."""

    rule = "SocketClosed"
    source = "PFN_WSK_CLOSE_SOCKET"


class CallAfterSocketFailure(WskApiViolation):
    """A WskReceiveFrom on a socket the provider has said no longer works (a request
    completed with STATUS_FILE_FORCED_CLOSED, or the NULL indication): "the WSK
    application must call the WskCloseSocket function to close the socket as soon as
    possible". The request is refused, its IRP untouched: a routine that reposts whatever
    the status does not recurse."""

    rule = "CallAfterSocketFailure"
    source = "PFN_WSK_RECEIVE_FROM; PFN_WSK_RECEIVE_FROM_EVENT"


class ReleaseNotHeld(WskApiViolation):
    """WskRelease was called on an indication the application does not hold (one the
    provider kept after STATUS_DATA_NOT_ACCEPTED, one the callback accepted with
    STATUS_SUCCESS, or not of this socket): it releases a list "that it previously
    retained by returning STATUS_PENDING" (STATUS_INVALID_PARAMETER otherwise). Releasing part of the
    list being indicated, from inside the callback, before returning STATUS_PENDING for
    it, is legal (msquic's kernel datapath before "Remove DataIndication Queuing")."""

    rule = "ReleaseNotHeld"
    source = "PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST"


class ReleasedTwice(WskApiViolation):
    """WskRelease was called twice on the same indication."""

    rule = "ReleasedTwice"
    source = "PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST"


class ReleasedThenReturned(WskApiViolation):
    """The callback released (WskRelease) part of the list it was handed and then returned
    STATUS_SUCCESS or STATUS_DATA_NOT_ACCEPTED for the list: that hands the provider back
    indications it already has. A callback that releases part of its list returns
    STATUS_PENDING for it (msquic's kernel datapath before "Remove DataIndication
    Queuing"; ovpn-dco-win returns STATUS_SUCCESS and never calls WskRelease)."""

    rule = "ReleasedThenReturned"
    source = "PFN_WSK_RECEIVE_FROM_EVENT; PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST"


class UseAfterRelease(WskApiViolation):
    """An indication's data was touched after it went back to the provider (the callback
    returned STATUS_SUCCESS, or WskRelease released it): through the indication, its
    Buffer's MDL, the MDL's buffer or a view of it, its RemoteAddress or ControlInfo."""

    rule = "UseAfterRelease"
    source = "PFN_WSK_RECEIVE_FROM_EVENT; PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST"


class UseAfterReject(WskApiViolation):
    """An indication's data was touched after the callback returned STATUS_DATA_NOT_ACCEPTED
    for it (the application did not accept it: the provider keeps it)."""

    rule = "UseAfterReject"
    source = "PFN_WSK_RECEIVE_FROM_EVENT"


class IndicationLeaked(WskApiViolation):
    """The socket was closed while the application still retained indications ("must
    release all retained linked lists of structures before the application calls the
    WskCloseSocket function")."""

    rule = "IndicationLeaked"
    source = "PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST"


class IrpLeaked(WskApiViolation):
    """An IRP allocated with IoAllocateIrp was never freed with IoFreeIrp by the time the
    client was done (WskDeregister, after its stop hook returned): "the allocating driver
    must free the IRP" (IoAllocateIrp); Driver Verifier's Pool Tracking reports allocations
    a driver did not free when it unloads (bug check 0xC4, parameter 0x62)."""

    rule = "IrpLeaked"
    source = "IoAllocateIrp; Driver Verifier (Pool Tracking)"


class UnknownCallbackStatus(WskApiViolation):
    """WskReceiveFromEvent returned a status its page does not list (STATUS_SUCCESS,
    STATUS_PENDING, STATUS_DATA_NOT_ACCEPTED). What the provider does then is not
    documented: the model warns and treats the list as accepted."""

    rule = "UnknownCallbackStatus"
    kind = "caution"
    source = "not documented (PFN_WSK_RECEIVE_FROM_EVENT lists the statuses)"


class EventBeforeBind(WskApiViolation):
    """The receive event callback was enabled or disabled on a datagram socket that is not
    bound ("it must do so after the socket has been bound to a local transport
    address")."""

    rule = "EventBeforeBind"
    source = "SO_WSK_EVENT_CALLBACK"


class StaticEventCallback(WskApiViolation):
    """SO_WSK_EVENT_CALLBACK was used on a callback WSK_SET_STATIC_EVENT_CALLBACKS enabled:
    such callbacks "cannot be disabled or re-enabled" (WSK_SET_STATIC_EVENT_CALLBACKS)."""

    rule = "StaticEventCallback"
    source = "WSK_SET_STATIC_EVENT_CALLBACKS"


class StaticCallbacksAfterSocket(WskApiViolation):
    """WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS) after the client created a socket:
    it "must do so before it creates any sockets"."""

    rule = "StaticCallbacksAfterSocket"
    source = "WSK_SET_STATIC_EVENT_CALLBACKS"


class WaitAtDispatchLevel(WskApiViolation):
    """A callback flagged WSK_FLAG_AT_DISPATCH_LEVEL waited (KeWaitForSingleObject with a
    timeout other than zero): at DISPATCH_LEVEL a driver must not wait."""

    rule = "WaitAtDispatchLevel"
    source = "PFN_WSK_RECEIVE_FROM_EVENT; KeWaitForSingleObject"


class WaitInCallback(WskApiViolation):
    """A receive callback or completion routine waited (KeWaitForSingleObject with a
    timeout other than zero) at PASSIVE_LEVEL: it "must not wait for completion of other
    WSK requests in the context of WSK completion or event callback functions ... even
    when the callback is called at IRQL = PASSIVE_LEVEL". Whatever the awaited event
    stands for, a wait is not the routine's to make: a callback without
    WSK_FLAG_AT_DISPATCH_LEVEL "might have [been] called ... at any IRQL <=
    DISPATCH_LEVEL", an IoCompletion routine runs "in an arbitrary thread or DPC context,
    and at an IRQL that is less than or equal to DISPATCH_LEVEL", and a wait with a
    timeout other than zero needs "IRQL <= APC_LEVEL and ... a nonarbitrary thread
    context" (KeWaitForSingleObject). A zero timeout is a look, legal at DISPATCH_LEVEL."""

    rule = "WaitInCallback"
    source = "PFN_WSK_RECEIVE_FROM_EVENT; IO_COMPLETION_ROUTINE; KeWaitForSingleObject"


class WskrecvBug(BaseException):
    """An exception inside wskrecv's own code while it served a client's call or delivered
    to a client: wskrecv's fault ("a wskrecv bug: please report"), never charged to the
    client. A BaseException, so that a client's `except Exception` does not swallow it;
    the original exception is its __cause__."""


RULES: dict[str, type[WskApiViolation]] = {
    cls.rule: cls
    for cls in (
        IrpAlreadyPending,
        IrpNotReused,
        IrpReusedWhilePending,
        IrpFreedWhilePending,
        IrpUsedAfterFree,
        IrpWithoutCompletionRoutine,
        IrpWithoutStackLocation,
        RequestBufferInUse,
        BadCompletionReturn,
        SocketClosed,
        CallAfterSocketFailure,
        ReleaseNotHeld,
        ReleasedTwice,
        ReleasedThenReturned,
        UseAfterRelease,
        UseAfterReject,
        IndicationLeaked,
        IrpLeaked,
        UnknownCallbackStatus,
        EventBeforeBind,
        StaticEventCallback,
        StaticCallbacksAfterSocket,
        WaitAtDispatchLevel,
        WaitInCallback,
    )
}
CAUTIONS: frozenset[str] = frozenset(name for name, cls in RULES.items() if cls.kind == "caution")


@dataclass
class Verifier:
    """Counts API violations by rule (`counts`) and, apart, the model's cautions
    (`cautions`), and keeps the first few for the report.

    With a `locate` function (set by whoever runs client code: `wskrecv run`), each
    violation also gets the client's source line, and `sites` counts them by
    (rule, file:line). After `halt` (wskrecv's own code failed: nothing it finds any more
    is the client's) it counts nothing.
    """

    counts: Counter[str] = field(default_factory=Counter)
    cautions: Counter[str] = field(default_factory=Counter)
    first: list[WskApiViolation] = field(default_factory=list)
    keep: int = 16
    locate: Optional[Locator] = None
    sites: Counter[tuple[str, Optional[str]]] = field(default_factory=Counter)
    details: dict[tuple[str, Optional[str]], str] = field(default_factory=dict)
    halted: bool = False
    # Told of every rule violation (not cautions) as (rule, the client's file:line or
    # None): fault injection's ledger charges rule breaks to the fault before them
    # (inject.py, outcomes.py).
    observer: Optional[Callable[[str, Optional[str]], None]] = None

    def record(
        self, rule: str, detail: str = "", culprit: Optional[Callable[..., Any]] = None,
        where: Optional[str] = None,
    ) -> WskApiViolation:
        """Count a violation of `rule` (or a caution) and return the exception for it (not
        raised). `culprit`: the client routine whose return value broke the rule, if that
        is how; `where`: the client's file:line when the caller knows it already (a leak
        found at the end is blamed on the call that allocated it)."""
        cls = RULES.get(rule, WskApiViolation)
        exc = cls(detail)
        if self.halted:
            return exc
        (self.cautions if cls.kind == "caution" else self.counts)[rule] += 1
        if self.locate is not None:
            exc.where = where if where is not None else self.locate(culprit)
            site = (rule, exc.where)
            self.sites[site] += 1
            self.details.setdefault(site, detail)
        if len(self.first) < self.keep:
            self.first.append(exc)
        if self.observer is not None and cls.kind != "caution":
            self.observer(rule, exc.where)
        return exc

    def halt(self) -> None:
        """wskrecv's own code failed: from now on nothing is counted against the client."""
        self.halted = True

    @property
    def total(self) -> int:
        """Rule violations (cautions are not)."""
        return sum(self.counts.values())
