"""The event-style client of `wskrecv event`: a WskReceiveFromEvent callback.

After bind it enables the callback with WskControlSocket(SO_WSK_EVENT_CALLBACK,
WSK_EVENT_RECEIVE_FROM). The provider then calls it with one linked list of
WSK_DATAGRAM_INDICATION per batch read from the socket, and the callback either

- returns STATUS_SUCCESS (the default): done with the list, the buffers go back at once;
- returns STATUS_PENDING (`pend`): a work item processes the list `hold` seconds later and
  gives it back with WskRelease, from the worker thread;
- returns STATUS_DATA_NOT_ACCEPTED every `reject_every`-th call: the provider keeps the
  datagrams and disables the callback; a work item re-enables it, and the provider
  indicates the kept datagrams again, first (under static callbacks the provider neither
  disables the callback nor keeps the datagrams);
- with `keep_every` N: cuts the list (Next = NULL) into every Nth datagram (a list
  shorter than N: its last) and the rest, WskReleases the rest from inside the callback and returns
  STATUS_PENDING for the part it keeps; a work item releases that part `hold` seconds
  later (the partial release of msquic's earlier kernel datapath and ovpn-dco-win).

With `static` the callback was enabled for every socket by WSK_SET_STATIC_EVENT_CALLBACKS
before the socket existed (the command does that), so the application never uses
SO_WSK_EVENT_CALLBACK.

The host counts every datagram of a list the callback accepted, when it returns (the
socket's tap, as for any `wskrecv run` client, in one batch per list), so the callback
reads no datagram and asks for no control information. A NULL indication means the
socket no longer works: the client closes it "as soon as possible"
(PFN_WSK_RECEIVE_FROM_EVENT), once what it retains is released (a work item queued after
the releases closes it; with nothing retained, the callback closes it at once). Stopping
runs every queued work item at once, so nothing retained is left unreleased when the
socket closes.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from wskrecv.builtin.base import BuiltinClient
from wskrecv.builtin.worker import VirtualWorkQueue, WorkQueue
from wskrecv.client import (
    MSG_BCAST,
    MSG_MCAST,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_EVENT_RECEIVE_FROM,
    SocketStatistics,
    WskClientDatagramDispatch,
    WskControlSocket,
    WskDatagramIndication,
    WskDatagramSocket,
    WskEventCallbackControl,
    WskRelease,
    WskSetOption,
)
from wskrecv.stats.modes import EventStatistics

_MSG_BCAST = int(MSG_BCAST)
_CAST = _MSG_BCAST | int(MSG_MCAST)


def _length(indication: Optional[WskDatagramIndication]) -> int:
    n = 0
    while indication is not None:
        n += 1
        indication = indication.next
    return n


class EventClient(BuiltinClient):
    """Receives through its socket's WskReceiveFromEvent callback."""

    mode = "event"

    def __init__(
        self,
        pend: bool = False,
        hold: float = 0.0,
        reject_every: int = 0,
        clock: Callable[[], float] = time.monotonic,
        keep_every: int = 0,
        static: bool = False,
        virtual: Optional[Callable[[], int]] = None,
    ) -> None:
        super().__init__()
        self.pend = pend
        self.hold = hold
        self.reject_every = reject_every
        self.keep_every = keep_every
        self.static = static
        self.clock = clock
        self.broadcast = 0  # datagrams in lists whose Flags had MSG_BCAST
        self.multicast = 0  # ... MSG_MCAST
        self.processed = 0  # datagrams the work items processed (--pend)
        self._calls = 0
        # Deferred work (releases, re-enabling) runs on a worker thread, as a driver's
        # work items would; the plain SUCCESS style needs none (nor do static callbacks
        # to be re-enabled).
        # `virtual`: a replay's clock (ns; `clock` is the same in seconds): the work queue
        # is run by the replay's loop, on that clock, without a thread.
        deferred = pend or keep_every or (reject_every and not static)
        self.work: Optional[WorkQueue | VirtualWorkQueue] = None
        if deferred:
            self.work = (VirtualWorkQueue(virtual, on_fault=self.fault) if virtual is not None
                         else WorkQueue(clock=clock, on_fault=self.fault))
        # What the driver passes to WskSocket as its Dispatch (the host does).
        self.dispatch = WskClientDatagramDispatch(receive_from_event=self._receive_from_event)

    # -- the client's hooks -----------------------------------------------------------

    def start(self, socket: WskDatagramSocket) -> None:
        super().start(socket)
        if self.work is not None:
            self.work.start()
        if not self.static:
            self._enable()

    def stop(self) -> None:
        """Finish every queued work item (process and release what is retained), then
        WskCloseSocket: leaks would be counted."""
        super().stop()
        if self.work is not None:
            self.work.drain_and_stop()
        self.close_socket()

    def statistics(self, counts: SocketStatistics) -> EventStatistics:
        return EventStatistics.from_socket(
            counts, broadcast=self.broadcast, multicast=self.multicast,
            last_failure=self.failure_name(),
        )

    # -- the callback -----------------------------------------------------------------

    def _receive_from_event(
        self, _socket_context: Any, flags: int, indication: Optional[WskDatagramIndication]
    ) -> int:
        """PFN_WSK_RECEIVE_FROM_EVENT."""
        if indication is None:  # the socket no longer works (the socket counts it)
            if self.work is not None:  # after the releases queued before it
                self.work.queue(self.close_socket)
            else:
                self.close_socket()  # completes once this call returns
            return STATUS_SUCCESS
        self._calls += 1
        if flags & _CAST:  # the whole list was sent to a broadcast or multicast address
            n = _length(indication)
            if flags & _MSG_BCAST:
                self.broadcast += n
            else:
                self.multicast += n
        if self.reject_every and self._calls % self.reject_every == 0 and not self.stopping:
            # Not now: the provider keeps the list and disables the callback until the
            # work item turns it back on (static callbacks stay on: nothing to re-enable).
            if not self.static:
                assert self.work is not None
                self.work.queue(self._enable)
            return STATUS_DATA_NOT_ACCEPTED
        if self.keep_every:
            return self._keep_part(indication)
        if self.pend:
            assert self.work is not None
            self.work.queue(lambda: self._process_and_release(indication), self.clock() + self.hold)
            return STATUS_PENDING
        return STATUS_SUCCESS

    # -- work items and helpers -------------------------------------------------------

    def _keep_part(self, indication: WskDatagramIndication) -> int:
        """Cut the list (Next = NULL) into every `keep_every`-th datagram (a list shorter
        than that: its last), retained, and the rest, released now: STATUS_PENDING for
        the retained part. Something is always retained: releasing the whole list inside
        the callback and then returning STATUS_SUCCESS hands the provider back what it
        already has (ReleasedThenReturned), and every datagram goes back by WskRelease."""
        every = self.keep_every
        keep: list[WskDatagramIndication] = []
        drop: list[WskDatagramIndication] = []
        ind: Optional[WskDatagramIndication] = indication
        i = 0
        while ind is not None:
            nxt = ind.next
            ind.next = None  # cut: each part becomes a list of its own
            (keep if i % every == every - 1 else drop).append(ind)
            ind = nxt
            i += 1
        if not keep:  # a short list (fewer than `every`): its last is retained
            keep.append(drop.pop())
        for part in (keep, drop):
            for a, b in zip(part, part[1:]):
                a.next = b
        if drop:
            WskRelease(self.sock, drop[0])  # legal inside the callback: what it is handed
        assert self.work is not None
        head = keep[0]
        self.work.queue(lambda: self._release(head), self.clock() + self.hold)
        return STATUS_PENDING

    def _release(self, indication: WskDatagramIndication) -> None:
        """Work item: give back a retained list that was already processed."""
        WskRelease(self.sock, indication)

    def _process_and_release(self, indication: WskDatagramIndication) -> None:
        """Work item: process a retained list, then WskRelease it (from this thread),
        also when processing failed: a fault must not leak what it held."""
        try:
            self._process(indication)
        finally:
            WskRelease(self.sock, indication)

    def _process(self, indication: WskDatagramIndication) -> None:
        """What a work item does with a list it holds: walk it (the host counted it
        when the callback returned)."""
        self.processed += _length(indication)

    def _enable(self) -> None:
        """WskControlSocket(WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, RECEIVE_FROM)."""
        if self.sock.closed:
            return
        control = WskEventCallbackControl(event_mask=WSK_EVENT_RECEIVE_FROM)
        self.check(WskControlSocket(self.sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                    control))


__all__ = ["EventClient"]
