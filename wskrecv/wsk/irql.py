"""IRQL as a callback sees it, kernel events, and the one thing a driver must not do at
DISPATCH_LEVEL.

PFN_WSK_RECEIVE_FROM_EVENT: with WSK_FLAG_AT_DISPATCH_LEVEL in Flags the callback runs at
IRQL = DISPATCH_LEVEL; and whatever the IRQL, a callback or completion routine "must not
wait for completion of other WSK requests". Waiting (KeWaitForSingleObject with a nonzero
timeout) at DISPATCH_LEVEL is what Driver Verifier stops a driver for. The dispatcher
raises the simulated IRQL around such callbacks; `ke_wait_for_single_object` is the wait
a callback would call, and there it is the `WaitAtDispatchLevel` or `WaitInCallback`
violation instead of a wait.

`KernelEvent` is a KEVENT of either type KeInitializeEvent gives: a NotificationEvent
stays signalled until cleared; a SynchronizationEvent is reset by the wait it satisfies,
so each KeSetEvent releases one waiter (KeInitializeEvent, KeSetEvent).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Optional

from wskrecv.wsk.verifier import Verifier

PASSIVE_LEVEL = 0
DISPATCH_LEVEL = 2

# EVENT_TYPE (wdm.h): what KeInitializeEvent's Type says.
NotificationEvent, SynchronizationEvent = 0, 1

_state = threading.local()
_MODEL = os.path.dirname(os.path.abspath(__file__))  # wskrecv/wsk: where callbacks are made


def ke_get_current_irql() -> int:
    """KeGetCurrentIrql, as simulated on this thread."""
    return getattr(_state, "irql", PASSIVE_LEVEL)


@contextmanager
def raised_irql(level: int, verifier: Verifier) -> Iterator[None]:
    """Run a callback at `level` (KeRaiseIrql / KeLowerIrql around it)."""
    old = ke_get_current_irql()
    old_verifier: Optional[Verifier] = getattr(_state, "verifier", None)
    _state.irql = level
    _state.verifier = verifier
    try:
        yield
    finally:
        _state.irql = old
        _state.verifier = old_verifier


def _callback_context() -> Optional[tuple[str, Optional[Verifier]]]:
    """(what, its verifier) when this thread runs inside a WSK callback the model called:
    a receive callback or a completion routine (found on the stack, so that delivering
    costs nothing for it), else None."""
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith(_MODEL):
            if code.co_name == "_indicate":
                owner = frame.f_locals.get("self")
                source = getattr(owner, "source", None)
                return "a receive callback", getattr(source, "verifier", None)
            if code.co_name == "io_complete_request":
                irp = frame.f_locals.get("irp")
                return "a completion routine", getattr(irp, "verifier", None)
        frame = frame.f_back  # type: ignore[assignment]
    return None


class KernelEvent:
    """KEVENT: a kernel event, NotificationEvent until KeInitializeEvent says otherwise.
    The threading.Event methods (set, clear, is_set, wait) are its KeSetEvent,
    KeClearEvent, KeReadStateEvent and KeWaitForSingleObject, without the rules."""

    __slots__ = ("Type", "_signalled", "_cond")

    def __init__(self) -> None:
        self.Type = NotificationEvent
        self._signalled = False
        self._cond = threading.Condition(threading.Lock())

    def __repr__(self) -> str:
        kind = "Synchronization" if self.Type == SynchronizationEvent else "Notification"
        return f"<KEVENT {kind} {'signalled' if self._signalled else 'not signalled'}>"

    def initialize(self, event_type: int, state: bool) -> None:
        """KeInitializeEvent."""
        with self._cond:
            self.Type = event_type
            self._signalled = bool(state)

    def set(self) -> bool:
        """Signal; True when it was signalled already (KeSetEvent's previous state)."""
        with self._cond:
            was = self._signalled
            self._signalled = True
            self._cond.notify_all()
        return was

    def clear(self) -> None:
        with self._cond:
            self._signalled = False

    def is_set(self) -> bool:
        return self._signalled

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until signalled (None: for ever; 0: a look). A satisfied wait on a
        SynchronizationEvent resets it: of several waiters, one goes on per KeSetEvent."""
        with self._cond:
            if not self._signalled:
                if timeout is not None and timeout <= 0:
                    return False
                if not self._cond.wait_for(lambda: self._signalled, timeout):
                    return False
            if self.Type == SynchronizationEvent:
                self._signalled = False
            return True


def waits_outside_callbacks(frame: Optional[FrameType]) -> bool:
    """Whether the stack at `frame` is in KeWaitForSingleObject and not inside a WSK
    callback: a hook's wait. A hook runs on the thread that delivers datagrams, so no
    completion can come while it waits (on Windows another processor would deliver)."""
    waiting = False
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith(_MODEL):
            if code.co_name == "ke_wait_for_single_object":
                waiting = True
            elif code.co_name in ("_indicate", "io_complete_request"):
                return False
        frame = frame.f_back
    return waiting


def ke_wait_for_single_object(event: KernelEvent, timeout: Optional[float] = None) -> bool:
    """KeWaitForSingleObject on `event` (None: wait for ever). A wait (a timeout other than
    zero: zero is a poll) is refused inside a WSK callback: at DISPATCH_LEVEL it is
    `WaitAtDispatchLevel`; at PASSIVE_LEVEL, in a receive callback or completion routine,
    `WaitInCallback` ("must not wait for completion of other WSK requests in the context
    of WSK completion or event callback functions ... even when the callback is called
    at IRQL = PASSIVE_LEVEL", PFN_WSK_RECEIVE_FROM_EVENT)."""
    if timeout != 0:
        if ke_get_current_irql() >= DISPATCH_LEVEL:
            verifier: Optional[Verifier] = getattr(_state, "verifier", None)
            detail = "KeWaitForSingleObject at DISPATCH_LEVEL (WSK_FLAG_AT_DISPATCH_LEVEL)"
            if verifier is not None:
                raise verifier.record("WaitAtDispatchLevel", detail)
            raise RuntimeError(detail)
        context = _callback_context()
        if context is not None:
            what, verifier = context
            detail = f"KeWaitForSingleObject inside {what} (PASSIVE_LEVEL)"
            if verifier is not None:
                raise verifier.record("WaitInCallback", detail)
            raise RuntimeError(detail)
    return event.wait(timeout)


__all__ = [
    "DISPATCH_LEVEL",
    "PASSIVE_LEVEL",
    "KernelEvent",
    "NotificationEvent",
    "SynchronizationEvent",
    "ke_get_current_irql",
    "ke_wait_for_single_object",
    "raised_irql",
    "waits_outside_callbacks",
]
