"""The event-style receiver (`wskrecv event`): a WskReceiveFromEvent callback.

After bind it enables the callback with WskControlSocket(SO_WSK_EVENT_CALLBACK,
WSK_EVENT_RECEIVE_FROM). The provider then calls it with one linked list of
WSK_DATAGRAM_INDICATION per batch read from the socket, and the callback either

- consumes the list and returns STATUS_SUCCESS (the default): the buffers go back at once;
- returns STATUS_PENDING (`pend`): a work item processes the list `hold` seconds later and
  gives it back with WskRelease, from the worker thread;
- returns STATUS_DATA_NOT_ACCEPTED every `reject_every`-th call: the provider keeps the
  datagrams and disables the callback; a work item re-enables it, and the provider
  indicates the kept datagrams again, first.

A NULL indication means the socket is closing or broken. Stopping runs every queued work
item at once, so nothing retained is left unreleased when the socket closes.
"""

from __future__ import annotations

import time
from operator import attrgetter
from typing import Any, Callable, Optional

from wskrecv.apps.base import ReceiverBase, control_local
from wskrecv.apps.worker import WorkQueue
from wskrecv.stats.recorder import Recorder
from wskrecv.wsk import (
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_EVENT_RECEIVE_FROM,
    WskClientDatagramDispatch,
    WskDatagramIndication,
    WskDatagramSocket,
    WskEventCallbackControl,
    WskSetOption,
    nt_success,
)

_data = attrgetter("data")
_remote = attrgetter("remote")
_stamp = attrgetter("timestamp_ns")


class EventReceiver(ReceiverBase):
    """Receives through the WskReceiveFromEvent callback of `sock`."""

    mode = "event"

    def __init__(
        self,
        sock: WskDatagramSocket,
        recorder: Recorder,
        pend: bool = False,
        hold: float = 0.0,
        reject_every: int = 0,
        clock: Callable[[], float] = time.monotonic,
        want_local: bool = False,
    ) -> None:
        super().__init__(sock, recorder)
        self.pend = pend
        self.hold = hold
        self.reject_every = reject_every
        self.clock = clock
        self.null_indications = 0
        self._calls = 0
        # The destination address only matters to kept datagrams (--dump/--pcap): they are
        # recorded one by one with it; otherwise each list is counted at once.
        self._want_local = want_local
        # Deferred work (releases, re-enabling) runs on a worker thread, as a driver's
        # work items would; the plain SUCCESS style needs none.
        self.work: Optional[WorkQueue] = WorkQueue(clock=clock) if pend or reject_every else None
        sock.set_dispatch(self, WskClientDatagramDispatch(receive_from_event=self._receive_from_event))

    # -- Receiver ---------------------------------------------------------------------

    def start(self) -> None:
        if self.work is not None:
            self.work.start()
        self._enable()

    def stop(self) -> None:
        """Finish every queued work item (process and release what is retained), then
        WskCloseSocket: the callback gets its NULL indication, and leaks would be counted."""
        self.stopping = True
        if self.work is not None:
            self.work.drain_and_stop()
        self.close_socket()

    def mode_stats(self) -> dict[str, Any]:
        sock = self.sock
        callbacks = sock.callbacks
        return {
            "callbacks": callbacks,
            "mean_list_length": round(sock.indicated / callbacks, 2) if callbacks else 0.0,
            "pended": sock.pended,
            "released": sock.released,
            "rejected": sock.rejected,
            "pool_in_use": sock.pool.in_use,
            "pool_high_water": sock.pool.high_water,
            "leaked": sock.leaked,
            "null_indications": self.null_indications,
            **self.failure_stats(),
        }

    # -- the callback -----------------------------------------------------------------

    def _receive_from_event(
        self, _socket_context: Any, _flags: int, indication: Optional[WskDatagramIndication]
    ) -> int:
        """PFN_WSK_RECEIVE_FROM_EVENT."""
        if indication is None:  # the socket is closing or no longer works
            self.null_indications += 1
            return STATUS_SUCCESS
        self._calls += 1
        if self.reject_every and self._calls % self.reject_every == 0 and not self.stopping:
            # Not now: the provider keeps the list and disables the callback until the
            # work item turns it back on.
            assert self.work is not None
            self.work.queue(self._enable)
            return STATUS_DATA_NOT_ACCEPTED
        if self.pend:
            assert self.work is not None
            self.work.queue(lambda: self._process_and_release(indication), self.clock() + self.hold)
            return STATUS_PENDING
        self._consume(indication)
        return STATUS_SUCCESS

    # -- work items and helpers -------------------------------------------------------

    def _consume(self, indication: Optional[WskDatagramIndication]) -> None:
        """Record every datagram of a list (the callback's or the worker's processing),
        under the recorder's lock: the worker thread records too (--pend, and the lists
        indicated again when it re-enables the callback)."""
        recorder = self.recorder
        ind = indication
        if self._want_local:  # --dump/--pcap: the destination address from ControlInfo
            record = recorder.record
            with recorder.lock:
                while ind is not None:
                    local = control_local(ind.control_info)
                    record(ind.data, ind.remote, ind.timestamp_ns, False, local=local)
                    ind = ind.next
            return
        # Walk the list as a driver walks Next; then read the fields column by column
        # (C-level, and still through each indication, so reading a released one is the
        # verifier's violation) and count the list at once.
        inds = []
        append = inds.append
        while ind is not None:
            append(ind)
            ind = ind.next
        datas, remotes, stamps = list(map(_data, inds)), list(map(_remote, inds)), list(map(_stamp, inds))
        with recorder.lock:
            recorder.record_many(datas, remotes, stamps)

    def _process_and_release(self, indication: WskDatagramIndication) -> None:
        """Work item: process a retained list, then WskRelease it (from this thread)."""
        self._consume(indication)
        self.sock.release(indication)

    def _enable(self) -> None:
        """WskControlSocket(WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, RECEIVE_FROM)."""
        if self.sock.closed:
            return
        control = WskEventCallbackControl(event_mask=WSK_EVENT_RECEIVE_FROM)
        status = self.sock.control_socket(WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, control)
        if not nt_success(status):
            self.note_failure(status)


__all__ = ["EventReceiver"]
