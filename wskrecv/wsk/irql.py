"""IRQL as a callback sees it, and the one thing a driver must not do at DISPATCH_LEVEL.

PFN_WSK_RECEIVE_FROM_EVENT: with WSK_FLAG_AT_DISPATCH_LEVEL in Flags the callback runs at
IRQL = DISPATCH_LEVEL; it "must not wait for completion of other WSK requests". Waiting
(KeWaitForSingleObject with a nonzero timeout) at DISPATCH_LEVEL is what Driver Verifier
stops a driver for. The dispatcher raises the simulated IRQL around such callbacks;
`ke_wait_for_single_object` is the wait a callback would call, and there it is the
`WaitAtDispatchLevel` violation instead of a wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

from wskrecv.wsk.verifier import Verifier

PASSIVE_LEVEL = 0
DISPATCH_LEVEL = 2

_state = threading.local()


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


def ke_wait_for_single_object(event: threading.Event, timeout: Optional[float] = None) -> bool:
    """KeWaitForSingleObject on `event` (None: wait for ever). At DISPATCH_LEVEL only a
    zero timeout (a poll) is allowed; anything else is `WaitAtDispatchLevel`."""
    if ke_get_current_irql() >= DISPATCH_LEVEL and timeout != 0:
        verifier: Optional[Verifier] = getattr(_state, "verifier", None)
        detail = "KeWaitForSingleObject at DISPATCH_LEVEL (WSK_FLAG_AT_DISPATCH_LEVEL)"
        if verifier is not None:
            raise verifier.record("WaitAtDispatchLevel", detail)
        raise RuntimeError(detail)
    return event.wait(timeout)


__all__ = [
    "DISPATCH_LEVEL",
    "PASSIVE_LEVEL",
    "ke_get_current_irql",
    "ke_wait_for_single_object",
    "raised_irql",
]
