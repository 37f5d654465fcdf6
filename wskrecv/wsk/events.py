"""The event side of the WSK datagram socket: SO_WSK_EVENT_CALLBACK, WskReceiveFromEvent
delivery with its three return values, WskRelease, and the NULL indication.

`EventSide` is a mixin of `WskDatagramSocket` (socket.py), which owns the state both
sides share (the lock, the pool, the backlog, the counters) and routes datagrams in
`_pump`: requests first, then this side's callback.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Optional

from wskrecv.wsk._state import IndicationEvent, SocketState
from wskrecv.wsk.indication import (
    ReceiveFromEvent,
    WskClientDatagramDispatch,
    WskDatagramIndication,
    WskEventCallbackControl,
    make_chain,
    relink,
    transition_chain,
    walk,
)
from wskrecv.wsk.pool import BufferPool
from wskrecv.wsk.status import (
    NTSTATUS,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_INVALID_PARAMETER,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_EVENT_DISABLE,
    WSK_EVENT_RECEIVE_FROM,
    WskSetOption,
    status_name,
)
from wskrecv.wsk.verifier import Verifier

if TYPE_CHECKING:
    from wskrecv.wsk.datagram import Datagram
    from wskrecv.wsk.irp import Irp
    from wskrecv.wsk.socket import Tap


class EventSide:
    """WskControlSocket(SO_WSK_EVENT_CALLBACK), the receive event callback and WskRelease."""

    # Provided by WskDatagramSocket.
    state: SocketState
    verifier: Verifier
    lock: Any
    pool: BufferPool
    _backlog: deque[Datagram]
    _kept: deque[WskDatagramIndication]
    _receive_from_event: Optional[ReceiveFromEvent]
    _socket_context: Any
    _event_enabled: bool
    _event_suspended: bool
    _broken: bool
    _null_indicated: bool
    _indicating: int
    ready_callback: Optional[Callable[[], None]]
    tap: Optional[Tap]
    callbacks: int
    indicated: int
    consumed: int
    pended: int
    rejected: int
    released: int
    held: int
    leaked: int
    discarded: int
    in_flight: int

    _check_open: Callable[[str], None]
    _pump: Callable[[], None]
    _complete_receive: Callable[[Irp, Datagram], None]

    def set_dispatch(
        self, socket_context: Any, dispatch: Optional[WskClientDatagramDispatch]
    ) -> None:
        """The SocketContext and Dispatch (WSK_CLIENT_DATAGRAM_DISPATCH) a client gives
        WskSocket; here settable after creation because the command creates the socket."""
        self._socket_context = socket_context
        self._receive_from_event = dispatch.receive_from_event if dispatch is not None else None

    def control_socket(
        self, request_type: int, control_code: int, level: int, input_buffer: Any
    ) -> NTSTATUS:
        """WskControlSocket(WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, &control).

        WSK_EVENT_RECEIVE_FROM enables the WskReceiveFromEvent callback (again, after a
        STATUS_DATA_NOT_ACCEPTED: the kept datagrams are indicated first, before this
        returns); adding WSK_EVENT_DISABLE disables it. Enabling before WskBind is the
        `EventBeforeBind` violation. Other requests are not modelled:
        STATUS_INVALID_PARAMETER.
        """
        with self.lock:
            self._check_open("WskControlSocket")
            if (
                request_type != WskSetOption
                or control_code != SO_WSK_EVENT_CALLBACK
                or level != SOL_SOCKET
                or not isinstance(input_buffer, WskEventCallbackControl)
            ):
                return STATUS_INVALID_PARAMETER
            mask = input_buffer.event_mask
            if mask & ~(WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE) or not mask & WSK_EVENT_RECEIVE_FROM:
                return STATUS_INVALID_PARAMETER
            if mask & WSK_EVENT_DISABLE:
                self._event_enabled = False
                return STATUS_SUCCESS
            if self.state is SocketState.CREATED:
                raise self.verifier.record(
                    "EventBeforeBind", "SO_WSK_EVENT_CALLBACK(WSK_EVENT_RECEIVE_FROM) before WskBind"
                )
            if self._receive_from_event is None:
                return STATUS_INVALID_PARAMETER  # the client dispatch has no callback
            if self.state is SocketState.CLOSING:
                return STATUS_FILE_FORCED_CLOSED
            self._event_enabled = True
            self._event_suspended = False
            self._pump()
        self._notify_ready()
        return STATUS_SUCCESS

    def release(self, indication: Optional[WskDatagramIndication]) -> NTSTATUS:
        """WskRelease: give back a list (or the part of one that ends at a `next` of None)
        the callback retained with STATUS_PENDING. Safe from any thread.

        All or nothing: if any indication in the list is not held (`ReleaseNotHeld`) or is
        reached twice (`ReleasedTwice`), the violation is raised and nothing is released.
        """
        with self.lock:
            self._check_open("WskRelease")
            inds, again = walk(indication)
            if not inds:
                raise self.verifier.record("ReleaseNotHeld", "WskRelease of an empty (NULL) list")
            for ind in inds:
                if type(ind) is not WskDatagramIndication or ind._socket is not self:
                    raise self.verifier.record(
                        "ReleaseNotHeld", f"{type(ind).__name__} is not an indication of this socket"
                    )
            if again >= 0:
                raise self.verifier.record(
                    "ReleasedTwice", f"the list reaches indication {again} twice"
                )
            transition_chain(inds, IndicationEvent.RELEASE, self.verifier, "WskRelease")
            n = len(inds)
            self.held -= n
            self.released += n
            self.in_flight -= n
            self.pool.give(n)
            self._pump()
        self._notify_ready()
        return STATUS_SUCCESS

    @property
    def event_enabled(self) -> bool:
        """Whether WskReceiveFromEvent would be called now (enabled and not paused)."""
        return self._event_enabled and not self._event_suspended

    @property
    def kept(self) -> int:
        """Datagrams the provider keeps after STATUS_DATA_NOT_ACCEPTED."""
        return len(self._kept)

    def _notify_ready(self) -> None:
        callback = self.ready_callback
        if callback is not None:
            callback()

    def _indicate(self, inds: list[WskDatagramIndication]) -> None:
        """One WskReceiveFromEvent call for `inds`, and what its return value means."""
        n = len(inds)
        self.callbacks += 1
        self.indicated += n
        self._indicating = n
        callback = self._receive_from_event
        assert callback is not None
        try:
            status = callback(self._socket_context, 0, inds[0])
        except BaseException:
            # The callback blew up: take the buffers back as if it had accepted them.
            self._indicating = 0
            if self.tap is not None:
                self.tap.accepted([ind._dgram for ind in inds])
            transition_chain(inds, IndicationEvent.ACCEPT, self.verifier, "callback raised")
            self.consumed += n
            self.in_flight -= n
            self.pool.give(n)
            raise
        self._indicating = 0
        if self.tap is not None and status != STATUS_DATA_NOT_ACCEPTED:
            # Counted once, when accepted (kept lists come round again), from the provider's
            # own records: parts the callback released are no longer readable.
            self.tap.accepted([ind._dgram for ind in inds])
        if status == STATUS_PENDING:
            transition_chain(inds, IndicationEvent.RETAIN, self.verifier, "STATUS_PENDING")
            self.pended += 1
            if self.state is SocketState.BOUND:
                self.held += n
            else:  # closed from inside the callback: retained past close
                self.leaked += n
                self.in_flight -= n
                self.verifier.record("IndicationLeaked", f"{n} datagrams retained while closing",
                                     culprit=callback)
        elif status == STATUS_DATA_NOT_ACCEPTED:
            transition_chain(inds, IndicationEvent.REJECT, self.verifier, "STATUS_DATA_NOT_ACCEPTED")
            self.rejected += 1
            self._event_suspended = True
            self._kept.extendleft(reversed(inds))
            if self.state is not SocketState.BOUND:
                self._discard()
        else:
            if status != STATUS_SUCCESS:
                shown = status_name(status) if isinstance(status, int) else repr(status)
                self.verifier.record("UnknownCallbackStatus", f"WskReceiveFromEvent returned {shown}",
                                     culprit=callback)
            # STATUS_SUCCESS, and anything unknown: the buffers go back to the pool.
            transition_chain(inds, IndicationEvent.ACCEPT, self.verifier, "STATUS_SUCCESS")
            self.consumed += n
            self.in_flight -= n
            self.pool.give(n)

    def _indicate_null(self) -> None:
        """The NULL indication: once, when the socket closes or fails with the callback on."""
        if self._event_enabled and not self._null_indicated and self._receive_from_event:
            self._null_indicated = True
            self._receive_from_event(self._socket_context, 0, None)

    def _drain_kept(self, irp: Irp) -> None:
        ind = self._kept.popleft()
        transition_chain([ind], IndicationEvent.DRAIN, self.verifier, "WskReceiveFrom")
        self.pool.give(1)
        self._complete_receive(irp, ind._dgram)

    def _discard(self) -> None:
        """Closing: the provider drops what it still holds."""
        if self._kept:
            inds = list(self._kept)
            self._kept.clear()
            transition_chain(inds, IndicationEvent.DISCARD, self.verifier, "WskCloseSocket")
            self.pool.give(len(inds))
            self.discarded += len(inds)
            self.in_flight -= len(inds)
        self.discarded += len(self._backlog)
        self.in_flight -= len(self._backlog)
        self._backlog.clear()

    def _indicate_next(self) -> bool:
        """Indicate what the provider holds, if the callback is on: the kept list first,
        else the backlog as far as the pool has buffers. False when nothing could go."""
        if (
            not self._event_enabled
            or self._event_suspended
            or self.state is not SocketState.BOUND
            or self._broken
        ):
            return False
        kept = self._kept
        if kept:
            inds = list(kept)
            kept.clear()
            transition_chain(inds, IndicationEvent.REINDICATE, self.verifier, "re-indicate")
            relink(inds)
            self._indicate(inds)
            return True
        backlog = self._backlog
        n = min(len(backlog), self.pool.free)
        if not n:
            return False
        if n == len(backlog):
            batch = list(backlog)
            backlog.clear()
        else:  # the pool is short: the rest waits for a release
            batch = [backlog.popleft() for _ in range(n)]
        self.pool.take(n)
        self._indicate(make_chain(batch, self))
        return True
