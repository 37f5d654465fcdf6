"""API-rule checks, like Driver Verifier for WSK clients.

Every rule has its own exception class, named after the rule. A violation is always
counted by the socket's `Verifier`; when the offending call came from the application
(submitting, releasing, reusing...) it is also raised at that call. A violation found
after the fact (a completion routine's or event callback's return value) is recorded only:
the application has already returned.

These are the application's faults (h11's LocalProtocolError); bad traffic from the
network is never an API violation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

# locate(culprit) -> "file:line" of the client code that broke the rule, or None. The
# culprit is the client routine whose *return value* broke it (after-the-fact rules), else
# None: the locator then looks for the client's own frame on the stack (the call).
Locator = Callable[[Optional[Callable[..., Any]]], Optional[str]]


class WskApiViolation(Exception):
    """The receiver code broke a WSK API rule."""

    rule = "WskApiViolation"

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{self.rule}: {detail}" if detail else self.rule)
        self.detail = detail
        self.where: Optional[str] = None  # the client's file:line, when a locator knows it


class IrpAlreadyPending(WskApiViolation):
    """An IRP was submitted while the provider still owns it."""

    rule = "IrpAlreadyPending"


class IrpNotReused(WskApiViolation):
    """A completed IRP was submitted again without IoReuseIrp."""

    rule = "IrpNotReused"


class IrpReusedWhilePending(WskApiViolation):
    """IoReuseIrp was called on an IRP the provider still owns."""

    rule = "IrpReusedWhilePending"


class IrpFreedWhilePending(WskApiViolation):
    """IoFreeIrp was called on an IRP the provider still owns."""

    rule = "IrpFreedWhilePending"


class IrpUsedAfterFree(WskApiViolation):
    """An IRP was used after IoFreeIrp."""

    rule = "IrpUsedAfterFree"


class IrpWithoutCompletionRoutine(WskApiViolation):
    """An IRP the application allocated was handed to a WSK function without a completion
    routine invoked on success, error and cancel ("Using IRPs with Winsock Kernel
    Functions"); IoReuseIrp clears the routine, so it is set again after every reuse."""

    rule = "IrpWithoutCompletionRoutine"


class RequestBufferInUse(WskApiViolation):
    """A Buffer, ControlLength or ControlFlags of a WskReceiveFrom still pending was handed
    to another request: they must stay the first request's until its IRP completes
    (PFN_WSK_RECEIVE_FROM remarks)."""

    rule = "RequestBufferInUse"


class BadCompletionReturn(WskApiViolation):
    """A completion routine returned something other than STATUS_MORE_PROCESSING_REQUIRED."""

    rule = "BadCompletionReturn"


class SocketClosed(WskApiViolation):
    """A WSK function was called on a socket after WskCloseSocket."""

    rule = "SocketClosed"


class ReleaseNotHeld(WskApiViolation):
    """WskRelease was called on an indication the application does not hold (one the
    provider kept after STATUS_DATA_NOT_ACCEPTED, or not of this socket). Releasing part of
    the list being indicated, from inside the callback, is legal (msquic, ovpn-dco-win)."""

    rule = "ReleaseNotHeld"


class ReleasedTwice(WskApiViolation):
    """WskRelease was called twice on the same indication."""

    rule = "ReleasedTwice"


class UseAfterRelease(WskApiViolation):
    """An indication's data was touched after it was released."""

    rule = "UseAfterRelease"


class UseAfterReject(WskApiViolation):
    """An indication's data was touched after the callback returned STATUS_DATA_NOT_ACCEPTED
    for it (the provider keeps it until it indicates it again)."""

    rule = "UseAfterReject"


class IndicationLeaked(WskApiViolation):
    """The socket was closed while the application still retained indications."""

    rule = "IndicationLeaked"


class IrpLeaked(WskApiViolation):
    """An IRP allocated with IoAllocateIrp was never freed with IoFreeIrp by the time the
    client was done (its stop hook returned): "the allocating driver must free the IRP"
    (IoAllocateIrp); Driver Verifier's Pool Tracking reports allocations a driver did not
    free when it unloads (bug check 0xC4, parameter 0x62)."""

    rule = "IrpLeaked"


class UnknownCallbackStatus(WskApiViolation):
    """WskReceiveFromEvent returned a status WSK does not define for it."""

    rule = "UnknownCallbackStatus"


class EventBeforeBind(WskApiViolation):
    """The receive event callback was enabled on a socket that is not bound."""

    rule = "EventBeforeBind"


class StaticEventCallback(WskApiViolation):
    """SO_WSK_EVENT_CALLBACK was used on a callback WSK_SET_STATIC_EVENT_CALLBACKS enabled:
    such callbacks "cannot be disabled or re-enabled" (WSK_SET_STATIC_EVENT_CALLBACKS)."""

    rule = "StaticEventCallback"


class StaticCallbacksAfterSocket(WskApiViolation):
    """WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS) after the client created a socket:
    it "must do so before it creates any sockets"."""

    rule = "StaticCallbacksAfterSocket"


class WaitAtDispatchLevel(WskApiViolation):
    """A callback flagged WSK_FLAG_AT_DISPATCH_LEVEL waited (KeWaitForSingleObject with a
    timeout other than zero): at DISPATCH_LEVEL a driver must not block."""

    rule = "WaitAtDispatchLevel"


class IrpBadTransition(WskApiViolation):
    """An IRP event with no defined meaning in its current state."""

    rule = "IrpBadTransition"


class IndicationBadTransition(WskApiViolation):
    """An indication event with no defined meaning in its current state."""

    rule = "IndicationBadTransition"


RULES: dict[str, type[WskApiViolation]] = {
    cls.rule: cls
    for cls in (
        IrpAlreadyPending,
        IrpNotReused,
        IrpReusedWhilePending,
        IrpFreedWhilePending,
        IrpUsedAfterFree,
        IrpWithoutCompletionRoutine,
        RequestBufferInUse,
        BadCompletionReturn,
        SocketClosed,
        ReleaseNotHeld,
        ReleasedTwice,
        UseAfterRelease,
        UseAfterReject,
        IndicationLeaked,
        IrpLeaked,
        UnknownCallbackStatus,
        EventBeforeBind,
        StaticEventCallback,
        StaticCallbacksAfterSocket,
        WaitAtDispatchLevel,
        IrpBadTransition,
        IndicationBadTransition,
    )
}


@dataclass
class Verifier:
    """Counts API violations by rule and keeps the first few for the report.

    With a `locate` function (set by whoever runs client code: `wskrecv run`), each
    violation also gets the client's source line, and `sites` counts them by
    (rule, file:line).
    """

    counts: Counter[str] = field(default_factory=Counter)
    first: list[WskApiViolation] = field(default_factory=list)
    keep: int = 16
    locate: Optional[Locator] = None
    sites: Counter[tuple[str, Optional[str]]] = field(default_factory=Counter)
    details: dict[tuple[str, Optional[str]], str] = field(default_factory=dict)
    # Told of every violation as (rule, the client's file:line or None): fault injection's
    # ledger charges rule breaks to the fault before them (inject.py, outcomes.py).
    observer: Optional[Callable[[str, Optional[str]], None]] = None

    def record(
        self, rule: str, detail: str = "", culprit: Optional[Callable[..., Any]] = None,
        where: Optional[str] = None,
    ) -> WskApiViolation:
        """Count a violation of `rule` and return the exception for it (not raised).
        `culprit`: the client routine whose return value broke the rule, if that is how;
        `where`: the client's file:line when the caller knows it already (a leak found
        at the end is blamed on the call that allocated it)."""
        exc = RULES.get(rule, WskApiViolation)(detail)
        self.counts[rule] += 1
        if self.locate is not None:
            exc.where = where if where is not None else self.locate(culprit)
            site = (rule, exc.where)
            self.sites[site] += 1
            self.details.setdefault(site, detail)
        if len(self.first) < self.keep:
            self.first.append(exc)
        if self.observer is not None:
            self.observer(rule, exc.where)
        return exc

    @property
    def total(self) -> int:
        return sum(self.counts.values())
