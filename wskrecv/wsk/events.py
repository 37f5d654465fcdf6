"""The event side of a WSK datagram socket: the WskReceiveFromEvent callback, its buffer
pool, the datagrams kept after STATUS_DATA_NOT_ACCEPTED, and WskRelease.

`WskDatagramSocket` (socket.py) owns one `EventDispatcher` and calls it; the dispatcher
calls the application's callback and never calls back into the socket. What the pages say
(learn.microsoft.com, windows-hardware/drivers):

- PFN_WSK_RECEIVE_FROM_EVENT: one call per list of WSK_DATAGRAM_INDICATIONs; Flags carry
  MSG_BCAST, MSG_MCAST and WSK_FLAG_AT_DISPATCH_LEVEL; a NULL list means the socket no
  longer works. STATUS_SUCCESS: done with the list. STATUS_PENDING: retained until
  WskRelease. STATUS_DATA_NOT_ACCEPTED: under SO_WSK_EVENT_CALLBACK the datagrams are
  buffered if possible and the callback is disabled until re-enabled; under
  WSK_SET_STATIC_EVENT_CALLBACKS the callback is not disabled. Pending WskReceiveFrom
  IRPs take precedence over the callback.
- SO_WSK_EVENT_CALLBACK: disabling while a call is in progress returns STATUS_PENDING
  (with an IRP, completed once the calls returned) or STATUS_EVENT_PENDING (without).
- WSK_SET_STATIC_EVENT_CALLBACKS: statically enabled callbacks cannot be disabled or
  re-enabled.
- PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST: releases what STATUS_PENDING retained.
  msquic's kernel datapath before its "Remove DataIndication Queuing" change also cut
  the list (Next = NULL) and released part of it from inside the callback, returning
  STATUS_PENDING for the list; releasing inside the callback and then returning
  STATUS_SUCCESS or STATUS_DATA_NOT_ACCEPTED hands back what was released
  (ReleasedThenReturned). ovpn-dco-win's callback returns STATUS_SUCCESS and never calls
  WskRelease.
"""

from __future__ import annotations

from collections import deque
from itertools import groupby
from operator import itemgetter
from typing import Any, Callable, Optional

from wskrecv.wsk._state import (
    CALLBACK_CALLED,
    CALLBACK_NULL,
    INDICATION_SHOWS,
    CallbackEvent,
    CallbackState,
    IndicationEvent,
    IndicationState,
    begin,
    step,
    step_all,
)
from wskrecv.wsk.counters import SocketCounts
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.indication import (
    PURE,
    IndicationCore,
    IndicationSource,
    ReceiveFromEvent,
    WskClientDatagramDispatch,
    WskDatagramIndication,
    relink,
    show,
)
from wskrecv.wsk.irp import Irp, io_complete_request
from wskrecv.wsk.irql import DISPATCH_LEVEL, raised_irql
from wskrecv.wsk.pool import BufferPool
from wskrecv.wsk.status import (
    NTSTATUS,
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_EVENT_PENDING,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_FLAG_AT_DISPATCH_LEVEL,
    status_name,
)
from wskrecv.wsk.tap import Tap
from wskrecv.wsk.types import cast_flags

# Members as plain names (reading one off its Enum class costs about 0.1 us): per list.
_INDICATED = IndicationState.INDICATED
_ACCEPT, _RETAIN, _RELEASE = IndicationEvent.ACCEPT, IndicationEvent.RETAIN, IndicationEvent.RELEASE
_DISABLING = CallbackState.DISABLING
_local = itemgetter(2)


class EventDispatcher:
    """The WskReceiveFromEvent side of one socket (see the module docstring)."""

    def __init__(
        self, source: IndicationSource, counts: SocketCounts, pool: BufferPool,
        indications: IndicationCore = PURE, static: bool = False,
    ) -> None:
        self.source = source
        self.counts = counts
        self.pool = pool
        self.kept: deque[WskDatagramIndication] = deque()  # rejected, to indicate again
        self.callback: Optional[ReceiveFromEvent] = None
        self.context: Any = None
        # The callback's one state (_state.CALLBACK_TRANSITIONS): static when
        # WSK_SET_STATIC_EVENT_CALLBACKS enabled it before the socket existed.
        begin(self, CallbackState.STATIC if static else CallbackState.DISABLED)
        self.at_dispatch = False  # simulate DISPATCH_LEVEL delivery (the flag is set)
        self.broadcast: frozenset[str] = frozenset({"255.255.255.255"})
        self._last_local: Any = None  # the destination whose cast flags were last asked
        self._last_cast = 0
        self.in_callback = 0  # calls in progress (nested when the callback reenters)
        self.disable_irp: Optional[Irp] = None  # a disable that waits for the call to return
        self._null_indicated = False
        self._releases = 0  # in-callback releases during the current call
        self.tap: Optional[Tap] = None  # the socket's (see socket.Tap)
        # Fault injection's say in each list's length (n -> how many to indicate; 0: none
        # now), given by the socket when its client's registration injects faults.
        self.inject: Optional[Callable[[int], int]] = None
        # Build each indication list, settle a list's state once the table allowed a step,
        # follow an application's list (WskRelease): indication.make_chain, _state.settle
        # and indication.walk, or their compiled twins (wskrecv.core: the same objects,
        # faster), as the socket's creator chose.
        self.make_chain = indications.chain
        self.settle = indications.settle
        self.walk = indications.walk
        self.census = indications.census

    # -- registration -----------------------------------------------------------------

    def set_dispatch(self, context: Any, dispatch: Optional[WskClientDatagramDispatch]) -> None:
        self.context = context
        self.callback = dispatch.receive_from_event if dispatch is not None else None

    @property
    def static(self) -> bool:
        """Enabled by WSK_SET_STATIC_EVENT_CALLBACKS (for good)."""
        return self.state is CallbackState.STATIC

    @property
    def accepting(self) -> bool:
        """Whether WskReceiveFromEvent would be called now (enabled and not paused). A
        socket whose dispatch has no callback is never called, static callbacks or not
        (WSK_SET_STATIC_EVENT_CALLBACKS does not say what WSK does then)."""
        return self.callback is not None and self.state in CALLBACK_CALLED

    def enable(self) -> None:
        """SO_WSK_EVENT_CALLBACK with WSK_EVENT_RECEIVE_FROM (the socket checked the rest).
        A disable still waiting for a call to return is superseded: its IRP completes."""
        step(self, CallbackEvent.ENABLE, self.source.verifier, "enable")
        irp, self.disable_irp = self.disable_irp, None
        if irp is not None:
            io_complete_request(irp, STATUS_SUCCESS)

    def disable(self, irp: Optional[Irp]) -> NTSTATUS:
        """SO_WSK_EVENT_CALLBACK with WSK_EVENT_DISABLE."""
        if self.in_callback:
            step(self, CallbackEvent.DISABLE_IN_CALL, self.source.verifier, "disable")
            if irp is not None:
                self.disable_irp = irp
                return STATUS_PENDING
            return STATUS_EVENT_PENDING
        step(self, CallbackEvent.DISABLE, self.source.verifier, "disable")
        if irp is not None:
            io_complete_request(irp, STATUS_SUCCESS)
        return STATUS_SUCCESS

    def close(self) -> None:
        """WskCloseSocket finished: the callback is never called again."""
        step(self, CallbackEvent.CLOSE)

    # -- indicating -------------------------------------------------------------------

    def indicate(self, backlog: deque[Datagram]) -> bool:
        """Indicate what the provider holds: the kept list first, else the backlog as far
        as the pool has buffers. False when nothing could go."""
        if self.state not in CALLBACK_CALLED or self.callback is None:
            return False
        kept = self.kept
        if kept:
            inds = list(kept)
            kept.clear()
            self._step_all(inds, IndicationEvent.REINDICATE, "re-indicate")
            relink(inds)
            self._indicate(inds, self._flags(inds[0]._dgram[2]))
            return True
        n = min(len(backlog), self.pool.free)
        if not n:
            return False
        inject = self.inject
        if inject is not None:
            n = inject(n)
            if not n:
                return False
        if n == len(backlog):
            batch = list(backlog)
            backlog.clear()
        else:  # the pool is short: the rest waits for a release
            batch = [backlog.popleft() for _ in range(n)]
        self.pool.take(n)
        locals_ = list(map(_local, batch))
        first = locals_[0]
        if locals_.count(first) == n:  # one destination (the usual case): one list
            self._indicate(self.make_chain(batch, self.source), self._flags(first), batch)
            return True
        # Flags describe a whole list: datagrams sent to a broadcast or multicast address
        # go in lists of their own, in arrival order.
        for flag, run in groupby(batch, key=lambda d: self._cast_of(d[2])):
            part = list(run)
            self._indicate(self.make_chain(part, self.source), flag | self._dispatch_flag(), part)
        return True

    def _dispatch_flag(self) -> int:
        return WSK_FLAG_AT_DISPATCH_LEVEL if self.at_dispatch else 0

    def _flags(self, local: Any) -> int:
        return self._cast_of(local) | self._dispatch_flag()

    def _cast_of(self, local: Any) -> int:
        """MSG_BCAST / MSG_MCAST / 0 for a destination (providers hand out one tuple per
        destination, so the last one is remembered by identity)."""
        if local is self._last_local:
            return self._last_cast
        cast = cast_flags(local, self.broadcast)
        self._last_local = local
        self._last_cast = cast
        return cast

    def _indicate(self, inds: list[WskDatagramIndication], flags: int,
                  dgrams: Optional[list[Datagram]] = None) -> None:
        """One WskReceiveFromEvent call for `inds`, and what its return value means for
        the indications the callback did not release itself. `dgrams`: the records `inds`
        were built from, in order, when the caller has them (the provider's list of them
        is what the tap counts; the indications' own `_dgram` otherwise)."""
        counts = self.counts
        n = len(inds)
        counts.callbacks += 1
        counts.indicated += n
        counts.indicating += n
        callback = self.callback
        assert callback is not None
        outer_releases = self._releases
        self._releases = 0
        self.in_callback += 1
        try:
            if self.at_dispatch:
                with raised_irql(DISPATCH_LEVEL, self.source.verifier):
                    status = callback(self.context, flags, inds[0])
            else:
                status = callback(self.context, flags, inds[0])
        except BaseException:
            # The callback blew up: take back what it did not release, as if accepted.
            self._finish_call(inds, outer_releases)
            if self.tap is not None:
                self.tap.accepted([ind._dgram for ind in inds])
            self._accept(self._live(inds))
            raise
        released = self._releases  # of this call's list, by the callback itself
        live = self._finish_call(inds, outer_releases)
        if released and status in (STATUS_SUCCESS, STATUS_DATA_NOT_ACCEPTED):
            # Released in the call, then given back whole: the provider would get back
            # indications it already has. Only STATUS_PENDING goes with releasing part of
            # the list (msquic's kernel datapath before "Remove DataIndication Queuing").
            shown = status_name(status) if isinstance(status, int) else repr(status)
            self.source.verifier.record(
                "ReleasedThenReturned",
                f"WskRelease of {released} of the list's {len(inds)} indications inside the "
                f"callback, which then returned {shown}", culprit=callback)
        if self.tap is not None:
            # Counted once, when accepted or released in the call (a rejected rest comes
            # round again), from the provider's records: released ones are unreadable.
            if status == STATUS_DATA_NOT_ACCEPTED and live:
                taken = [ind._dgram for ind in inds if ind.state is not _INDICATED]
            else:
                taken = dgrams if dgrams is not None else [ind._dgram for ind in inds]
            if taken:
                self.tap.accepted(taken)
        if not live:
            return  # the callback released the whole list itself
        verifier = self.source.verifier
        if status == STATUS_PENDING:
            self._step_all(live, _RETAIN, "STATUS_PENDING")
            counts.pended += 1
            counts.held += len(live)
        elif status == STATUS_DATA_NOT_ACCEPTED:
            self._step_all(live, IndicationEvent.REJECT, "STATUS_DATA_NOT_ACCEPTED")
            counts.rejected += 1
            if step(self, CallbackEvent.REJECT) is CallbackState.STATIC:
                # Static callbacks are not disabled. What becomes of the datagrams the page
                # does not say: the model drops them (a driver cannot count on them).
                self._step_all(live, IndicationEvent.DISCARD, "static callback")
                counts.dropped += len(live)
                counts.in_flight -= len(live)
                self.pool.give(len(live))
            else:
                self.kept.extendleft(reversed(live))
        else:
            if status != STATUS_SUCCESS:
                shown = status_name(status) if isinstance(status, int) else repr(status)
                verifier.record("UnknownCallbackStatus", f"WskReceiveFromEvent returned {shown}",
                                culprit=callback)
            self._accept(live)  # STATUS_SUCCESS, and anything unknown

    def _finish_call(
        self, inds: list[WskDatagramIndication], outer_releases: int
    ) -> list[WskDatagramIndication]:
        """The call returned: what is still the provider's to settle, and a disable that
        waited for the call (SO_WSK_EVENT_CALLBACK) takes effect."""
        self.in_callback -= 1
        released, self._releases = self._releases, outer_releases
        self.counts.indicating -= len(inds) - released
        if self.state is _DISABLING and not self.in_callback:
            step(self, CallbackEvent.RETURNED)
            irp, self.disable_irp = self.disable_irp, None
            if irp is not None:
                io_complete_request(irp, STATUS_SUCCESS)
        return self._live(inds) if released else inds

    @staticmethod
    def _live(inds: list[WskDatagramIndication]) -> list[WskDatagramIndication]:
        return [ind for ind in inds if ind.state is _INDICATED]

    def _accept(self, inds: list[WskDatagramIndication]) -> None:
        if not inds:
            return
        n = len(inds)
        self._step_all(inds, _ACCEPT, "STATUS_SUCCESS")
        self.counts.consumed += n
        self.counts.in_flight -= n
        self.pool.give(n)

    def indicate_null(self) -> None:
        """The NULL indication: once, when the socket no longer works (not on close)."""
        if self.state in CALLBACK_NULL and not self._null_indicated and self.callback is not None:
            self._null_indicated = True
            self.counts.null_indications += 1
            self.callback(self.context, self._dispatch_flag(), None)

    # -- WskRelease -------------------------------------------------------------------

    def release(self, head: Optional[WskDatagramIndication]) -> None:
        """WskRelease of the list that ends at a `next` of None: all or nothing. Legal for
        what STATUS_PENDING retained, and for part of the list being indicated right now."""
        source = self.source
        verifier = source.verifier
        inds, again = self.walk(head)
        if not inds:
            raise verifier.record("ReleaseNotHeld", "WskRelease of an empty (NULL) list")
        during = self.census(inds, source, _INDICATED)  # released inside the callback
        if during < 0:  # then find the first that is not an indication of ours, in order
            for ind in inds:
                if not isinstance(ind, WskDatagramIndication) or getattr(ind, "_source", None) is not source:
                    raise verifier.record(
                        "ReleaseNotHeld", f"{type(ind).__name__} is not an indication of this socket"
                    )
            raise verifier.record("ReleaseNotHeld", "an item of the list is not an indication of this socket")
        if again >= 0:
            raise verifier.record("ReleasedTwice", f"the list reaches indication {again} twice")
        self._step_all(inds, _RELEASE, "WskRelease")
        n = len(inds)
        counts = self.counts
        counts.held -= n - during
        counts.released += n
        counts.released_in_callback += during
        counts.indicating -= during
        counts.in_flight -= n
        self._releases += during
        self.pool.give(n)

    # -- the provider's side ----------------------------------------------------------

    def take_kept(self) -> Optional[Datagram]:
        """A kept datagram for a WskReceiveFrom request (requests come first)."""
        if not self.kept:
            return None
        ind = self.kept.popleft()
        self._step_all([ind], IndicationEvent.DRAIN, "WskReceiveFrom")
        self.pool.give(1)
        return ind._dgram

    def discard_kept(self) -> int:
        """Closing: the provider drops what it kept. Returns how many."""
        if not self.kept:
            return 0
        inds = list(self.kept)
        self.kept.clear()
        self._step_all(inds, IndicationEvent.DISCARD, "WskCloseSocket")
        self.pool.give(len(inds))
        return len(inds)

    def _step_all(self, inds: list[WskDatagramIndication], event: IndicationEvent, what: str) -> None:
        """`event` on every indication in `inds` (_state.step_all, with this socket's settle)."""
        source = self.source
        step_all(inds, event, source.verifier, what, self.settle)
        if event in INDICATION_SHOWS:
            show(inds)
        elif source.views:  # MDL buffers handed out: those of returned indications go
            source.revoke()

__all__ = ["EventDispatcher"]
