"""A WSK datagram socket: WskReceiveFrom, the WskReceiveFromEvent callback, WskRelease,
WskControlSocket(SO_WSK_EVENT_CALLBACK) and WskCloseSocket.

Sans-I/O: the real socket lives in `wskrecv.provider`. The provider asks `demand()` how
many datagrams the socket can take, reads at most that many from the OS, and hands them to
`deliver()`. The socket completes pending receive IRPs first, in FIFO order (requests take
priority over the event callback, as in WSK); what is left goes to the WskReceiveFromEvent
callback as one indication list per batch, each indication holding a buffer from a bounded
pool (the event side itself is in events.py). Nothing here reads a clock, a socket or a
thread: a `lock` is passed in when the application calls in from several threads
(WskRelease may come from any thread).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any, Callable, Optional, Protocol

from wskrecv.wsk._state import IrpEvent, SocketState
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.events import EventSide
from wskrecv.wsk.indication import (
    ReceiveFromEvent,
    WskClientDatagramDispatch,
    WskDatagramIndication,
)
from wskrecv.wsk.irp import Irp, io_complete_request
from wskrecv.wsk.pool import BufferPool
from wskrecv.wsk.status import (
    AF_INET,
    AF_INET6,
    MSG_CTRUNC,
    MSG_TRUNC,
    NTSTATUS,
    STATUS_CANCELLED,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_INVALID_PARAMETER,
    STATUS_PENDING,
    STATUS_SUCCESS,
)
from wskrecv.wsk.types import SockAddr, ULongRef, WskBuf, build_control
from wskrecv.wsk.verifier import Verifier

# Plain ints on the hot path: IntFlag arithmetic costs several times more.
_MSG_TRUNC = int(MSG_TRUNC)
_MSG_CTRUNC = int(MSG_CTRUNC)


class Tap(Protocol):
    """Sees every datagram the client accepted, once: what `wskrecv` counts. Called with
    the socket's lock held, before a completion routine runs and after a receive callback
    returned STATUS_SUCCESS or STATUS_PENDING (or raised); never for a list it rejected
    (that list is counted when it is indicated again and accepted, or drained into an IRP)."""

    def completed(self, dgram: Datagram, length: int, truncated: bool) -> None:
        """An IRP completed with `dgram`, `length` bytes of it copied."""

    def accepted(self, dgrams: list[Datagram]) -> None:
        """A receive callback accepted a list holding `dgrams`."""


class _NoLock:
    """Stands in for a lock when the socket is driven from a single thread."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class WskDatagramSocket(EventSide):
    """WSK_FLAG_DATAGRAM_SOCKET with the receive side of WSK_PROVIDER_DATAGRAM_DISPATCH.

    Counters (datagrams unless named otherwise) always satisfy
    received == completions + consumed + released + leaked + discarded + in the provider's
    hands (backlog, kept, being indicated) + held by the application; see `accounting()`.
    """

    def __init__(
        self,
        family: int = AF_INET,
        verifier: Optional[Verifier] = None,
        lock: Any = None,
        pool: Optional[BufferPool] = None,
        dispatch: Optional[WskClientDatagramDispatch] = None,
        socket_context: Any = None,
    ) -> None:
        self.family = family
        self.verifier = verifier if verifier is not None else Verifier()
        self.lock = lock if lock is not None else _NoLock()
        self._threaded = lock is not None
        self.pool = pool if pool is not None else BufferPool()
        self.state = SocketState.CREATED
        self.local_address: Optional[tuple] = None
        self._requests: deque[Irp] = deque()  # posted WskReceiveFrom IRPs, oldest first
        self._backlog: deque[Datagram] = deque()  # delivered, not yet handed to the app
        self._kept: deque[WskDatagramIndication] = deque()  # rejected, to indicate again
        self._receive_from_event: Optional[ReceiveFromEvent] = None
        self._socket_context: Any = None
        self.set_dispatch(socket_context, dispatch)
        self._event_enabled = False  # the application enabled WskReceiveFromEvent
        self._event_suspended = False  # ...and STATUS_DATA_NOT_ACCEPTED paused it
        self._null_indicated = False
        self._broken = False  # the OS socket failed (`fail`)
        self._pumping = False
        self._indicating = 0  # datagrams inside the callback right now
        # Provider side: called after WskRelease or a re-enable, from whichever thread made
        # the call, because demand() may have grown; the receive loop wakes up on it.
        self.ready_callback: Optional[Callable[[], None]] = None
        # What counts the datagrams the client accepted (see Tap); None: nothing does.
        self.tap: Optional[Tap] = None
        self.received = 0  # datagrams the provider delivered
        self.completions = 0
        self.cancellations = 0
        self.failures = 0
        self.discarded = 0  # delivered but never handed over (socket closed first)
        self.callbacks = 0  # WskReceiveFromEvent calls with a list (not the NULL one)
        self.indicated = 0  # datagrams in those lists, re-indications included
        self.consumed = 0  # datagrams in lists the callback returned STATUS_SUCCESS for
        self.pended = 0  # callbacks that returned STATUS_PENDING
        self.rejected = 0  # callbacks that returned STATUS_DATA_NOT_ACCEPTED
        self.released = 0  # datagrams given back with WskRelease
        self.held = 0  # datagrams the application retains now
        self.leaked = 0  # datagrams still retained when the socket closed
        # Datagrams delivered that nobody has finished with: waiting in the provider or
        # held by the application. It drops only after the application has recorded them,
        # so reading it before the application's own count never undercounts (the
        # receive loop relies on that across threads).
        self.in_flight = 0

    # -- application side -------------------------------------------------------------

    def bind(self, local_address: tuple) -> NTSTATUS:
        """WskBind: record the local transport address (the provider did the real bind)."""
        self._check_open("WskBind")
        self.local_address = local_address
        self.family = AF_INET6 if len(local_address) > 2 else AF_INET
        self.state = SocketState.BOUND
        return STATUS_SUCCESS

    def receive_from(
        self,
        buf: WskBuf,
        flags: int,
        remote_address: Optional[SockAddr],
        control_length: Optional[ULongRef],
        control_info: Optional[list],
        control_flags: Optional[ULongRef],
        irp: Irp,
    ) -> NTSTATUS:
        """WskReceiveFrom: post a receive. Returns STATUS_PENDING or a failure status.

        Every path completes the IRP: a bad request completes it at once with
        STATUS_INVALID_PARAMETER (the completion routine runs before this returns). A
        datagram the provider already holds completes the request before this returns.
        """
        irp.verifier = self.verifier
        self._check_open("WskReceiveFrom")
        irp.transition(IrpEvent.SUBMIT)
        if self.state is SocketState.CLOSING:
            io_complete_request(irp, STATUS_FILE_FORCED_CLOSED)
            return STATUS_FILE_FORCED_CLOSED
        if flags != 0 or not buf.is_valid():
            self.failures += 1
            io_complete_request(irp, STATUS_INVALID_PARAMETER)
            return STATUS_INVALID_PARAMETER
        irp.request = (buf, remote_address, control_length, control_info, control_flags)
        irp.cancel_routine = self._cancel_receive
        self._requests.append(irp)
        if (self._backlog or self._kept) and not self._pumping:
            with self.lock:
                self._pump()
        return STATUS_PENDING

    def close(self) -> NTSTATUS:
        """WskCloseSocket: cancel every outstanding request (FIFO), tell the event callback
        (a NULL indication), drop what the provider still keeps, then close. Lists the
        application still retains are leaks: counted, and the `IndicationLeaked` rule."""
        with self.lock:
            self._check_open("WskCloseSocket")
            self.state = SocketState.CLOSING
            raised: Optional[BaseException] = None
            while self._requests:
                irp = self._requests.popleft()
                self.cancellations += 1
                try:
                    io_complete_request(irp, STATUS_CANCELLED)
                except Exception as exc:  # a completion routine raised: close all the same
                    raised = raised or exc
            try:
                self._indicate_null()
            except Exception as exc:
                raised = raised or exc
            self._event_enabled = False
            self._discard()
            if self.held:
                self.leaked += self.held
                self.in_flight -= self.held
                self.verifier.record(
                    "IndicationLeaked", f"{self.held} retained datagrams never released",
                    culprit=self._receive_from_event,
                )
                self.held = 0
            self.state = SocketState.CLOSED
        if raised is not None:
            raise raised  # after the close is complete: the caller reports it
        return STATUS_SUCCESS

    # -- provider side ----------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Receive IRPs posted and not yet completed."""
        return len(self._requests)

    @property
    def closed(self) -> bool:
        return self.state in (SocketState.CLOSING, SocketState.CLOSED)

    def accounting(self) -> dict[str, int]:
        """Where every delivered datagram is now; the values add up to `received`."""
        return {
            "completions": self.completions,
            "consumed": self.consumed,
            "released": self.released,
            "leaked": self.leaked,
            "discarded": self.discarded,
            "held": self.held,
            "kept": len(self._kept),
            "backlog": len(self._backlog),
            "indicating": self._indicating,
        }

    def demand(self) -> int:
        """How many more datagrams the socket can take now (0: leave them in the OS)."""
        if self.state is not SocketState.BOUND or self._broken:
            return 0
        room = len(self._requests) - len(self._backlog) - len(self._kept)
        if self._event_enabled and not self._event_suspended:
            room += self.pool.free
        return room if room > 0 else 0

    def deliver(self, datagrams: Iterable[Datagram]) -> None:
        """Hand over datagrams read from the OS (one batch): pending receives complete in
        FIFO order, the rest go to the event callback as one indication list."""
        if not isinstance(datagrams, list):
            datagrams = list(datagrams)
        if self._threaded:
            with self.lock:
                self._deliver(datagrams)
        else:  # one thread (listen): skip the no-op lock, this runs for every read
            self._deliver(datagrams)

    def _deliver(self, datagrams: list[Datagram]) -> None:
        if self.state is not SocketState.BOUND:
            self.received += len(datagrams)
            self.discarded += len(datagrams)
            return
        self.received += len(datagrams)
        self.in_flight += len(datagrams)
        self._backlog.extend(datagrams)
        self._pump()

    def fail(self, status: int = STATUS_FILE_FORCED_CLOSED) -> None:
        """The OS socket broke: complete every outstanding receive with `status` and call
        the event callback with a NULL indication (the application must close)."""
        with self.lock:
            self._broken = True
            while self._requests:
                irp = self._requests.popleft()
                self.failures += 1
                io_complete_request(irp, status)
            self._indicate_null()

    # -- internals --------------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self.state is SocketState.CLOSED:
            raise self.verifier.record("SocketClosed", f"{what} after WskCloseSocket")

    def _pump(self) -> None:
        """Hand what the provider holds to requests first, then to the callback.

        Re-entrant calls (a completion routine posting, a callback releasing or
        re-enabling) return at once: the outer loop picks up what they changed.
        """
        if self._pumping:
            return
        self._pumping = True
        try:
            requests = self._requests
            backlog = self._backlog
            kept = self._kept
            while True:
                if requests:
                    if kept:
                        self._drain_kept(requests.popleft())
                        continue
                    if backlog:
                        while requests and backlog:
                            self._complete_receive(requests.popleft(), backlog.popleft())
                        continue
                if (backlog or kept) and self._indicate_next():
                    continue
                break
        finally:
            self._pumping = False

    def _complete_receive(self, irp: Irp, dgram: Datagram) -> None:
        buf, remote_address, control_length, control_info, control_flags = irp.request
        data = dgram[0]
        n = len(data)
        flags = 0
        if n > buf.length:
            n = buf.length
            flags = _MSG_TRUNC
            buf.mdl[buf.offset : buf.offset + n] = data[:n]
        else:
            buf.mdl[buf.offset : buf.offset + n] = data
        if remote_address is not None:
            remote_address.set(dgram[1])
        if control_length is not None:
            if control_info is None:
                control_length.value = 0
            else:
                msgs, used, ctrunc = build_control(
                    dgram[2], self.family, dgram[3], control_length.value
                )
                control_info[:] = msgs
                control_length.value = used
                if ctrunc:
                    flags |= _MSG_CTRUNC
        if control_flags is not None:
            control_flags.value = flags
        if self.tap is not None:
            self.tap.completed(dgram, n, bool(flags & _MSG_TRUNC))
        try:
            io_complete_request(irp, STATUS_SUCCESS, n)
        finally:  # even when the routine raised: the datagram was handed over
            self.completions += 1  # after the routine recorded it: see `in_flight`
            self.in_flight -= 1

    def _cancel_receive(self, irp: Irp) -> None:
        try:
            self._requests.remove(irp)
        except ValueError:  # already being completed
            return
        self.cancellations += 1
        io_complete_request(irp, STATUS_CANCELLED)


__all__ = ["SocketState", "Tap", "WskDatagramSocket"]
