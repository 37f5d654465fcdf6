"""A WSK datagram socket: WskReceiveFrom, WskControlSocket, WskRelease and WskCloseSocket;
the WskReceiveFromEvent side is its `EventDispatcher` (events.py).

Sans-I/O: the real socket lives in `wskrecv.provider`. The provider asks `demand()` how
many datagrams the socket can take, reads at most that many from the OS, and hands them to
`deliver()`. The socket completes pending receive IRPs first, in FIFO order (requests take
priority over the event callback: PFN_WSK_RECEIVE_FROM remarks); what is left goes to the
dispatcher, which indicates one list per batch. Nothing here reads a clock, a socket or a
thread: a `lock` is passed in when the application calls in from several threads
(WskRelease may come from any thread).

The rules and the pages they come from (learn.microsoft.com, windows-hardware/drivers):
- PFN_WSK_RECEIVE_FROM: Flags are reserved (0). Returns STATUS_SUCCESS when the datagram
  was received at once (the IRP completed before the call returned), STATUS_PENDING when it
  completes later, STATUS_FILE_FORCED_CLOSED when the socket no longer works (the IRP is
  completed with it too). ControlFlags: MSG_BCAST, MSG_MCAST, MSG_TRUNC, MSG_CTRUNC.
- "Using IRPs with Winsock Kernel Functions": every IRP is completed, through its routine.
- PFN_WSK_CLOSE_SOCKET: takes an IRP; may return STATUS_PENDING; cancels and completes
  every pending IRP; makes sure in-progress event callbacks have returned first; calling
  anything on the socket afterwards is illegal. It does not release retained lists
  (PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST): they must be released before.
- WSK control options: IP_PKTINFO / IPV6_PKTINFO (ws2ipdef.h) and SIO_TIMESTAMPING
  ("Winsock timestamping") decide which control messages a datagram carries.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any, Callable, ClassVar, Optional

from wskrecv.wsk._state import (
    CALLBACK_NULL,
    CallbackEvent,
    IrpState,
    SocketEvent,
    SocketState,
    begin,
    forbidden,
    step,
)
from wskrecv.wsk.counters import SocketCounts, SocketStatistics
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.events import EventDispatcher
from wskrecv.wsk.indication import (
    PURE,
    IndicationCore,
    IndicationSource,
    WskClientDatagramDispatch,
    WskDatagramIndication,
    WskEventCallbackControl,
)
from wskrecv.wsk.inject import Injector
from wskrecv.wsk.irp import Irp, io_complete_request
from wskrecv.wsk.pool import BufferPool
from wskrecv.wsk.status import (
    AF_INET,
    AF_INET6,
    IP_PKTINFO,
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPV6_PKTINFO,
    MSG_CTRUNC,
    MSG_TRUNC,
    NTSTATUS,
    SIO_TIMESTAMPING,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_CANCELLED,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_INVALID_PARAMETER,
    STATUS_PENDING,
    STATUS_SUCCESS,
    TIMESTAMPING_FLAG_RX,
    WSK_EVENT_DISABLE,
    WSK_EVENT_RECEIVE_FROM,
    WskIoctl,
    WskSetOption,
)
from wskrecv.wsk.tap import Tap
from wskrecv.wsk.types import SockAddr, TimestampingConfig, ULongRef, WskBuf, build_control, cast_flags
from wskrecv.wsk.verifier import Verifier, WskApiViolation

# Members as plain names: reading one off its Enum class costs about 0.1 us (Python 3.11),
# and these are read for every request and delivery.
_PENDING = IrpState.PENDING
_BOUND = SocketState.BOUND
_CLOSED = SocketState.CLOSED
_CLOSING = SocketState.CLOSING

# Plain ints on the hot path: IntFlag arithmetic costs several times more.
_MSG_TRUNC = int(MSG_TRUNC)
_MSG_CTRUNC = int(MSG_CTRUNC)


class _NoLock:
    """Stands in for a lock when the socket is driven from a single thread."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class WskDatagramSocket:
    """WSK_FLAG_DATAGRAM_SOCKET with the receive side of WSK_PROVIDER_DATAGRAM_DISPATCH.

    `statistics()` freezes its counts (counters.py says how they add up); `events` is the
    WskReceiveFromEvent side. `static_events` is what WSK_SET_STATIC_EVENT_CALLBACKS
    enabled for the client before this socket was created (registration.py); `dispatch_level`
    simulates callbacks at DISPATCH_LEVEL (WSK_FLAG_AT_DISPATCH_LEVEL in their Flags);
    `indications` builds, settles and walks its indication lists (the pure-Python
    functions, or the compiled core's twins).
    """

    def __init__(
        self,
        family: int = AF_INET,
        verifier: Optional[Verifier] = None,
        lock: Any = None,
        pool: Optional[BufferPool] = None,
        dispatch: Optional[WskClientDatagramDispatch] = None,
        socket_context: Any = None,
        static_events: int = 0,
        dispatch_level: bool = False,
        indications: Optional[IndicationCore] = None,
        faults: Optional[Injector] = None,
    ) -> None:
        self.family = family
        self.verifier = verifier if verifier is not None else Verifier()
        self.lock = lock if lock is not None else _NoLock()
        self._threaded = lock is not None
        begin(self, SocketState.CREATED)
        self.local_address: Optional[tuple] = None
        self.counts = SocketCounts()
        self.source = IndicationSource(self.verifier, family)
        self.pool = pool if pool is not None else BufferPool()
        self.events = EventDispatcher(
            self.source, self.counts, self.pool, indications if indications is not None else PURE,
            static=bool(static_events & WSK_EVENT_RECEIVE_FROM))
        self.events.at_dispatch = dispatch_level
        self.events.set_dispatch(socket_context, dispatch)
        self._requests: deque[Irp] = deque()  # posted WskReceiveFrom IRPs, oldest first
        self._kept = self.events.kept  # the dispatcher's: read on every request
        self._backlog: deque[Datagram] = deque()  # delivered, not yet handed to the app
        self._broken = False  # the OS socket failed (`fail`)
        self._failure_told = False  # ...and the client heard it (a failed request, NULL)
        self.closer = "the client"  # who called WskCloseSocket (wskrecv, for a client that did not)
        self._pumping = False
        # Fault injection (inject.py), when the client's registration has it: the
        # provider-side calls ask it first. `_held`: the provider hands nothing over
        # until `resume` (a delay); `_cancelling`: cancelled requests whose completion
        # comes late.
        self.faults = faults
        self._held = False
        self._cancelling: list[Irp] = []
        if faults is not None:
            faults.attach(self)
            events = self.events
            events.inject = lambda n: faults.list_length(events, self, n)
        self._close_irp: Optional[Irp] = None
        self._close_pending = False  # WskCloseSocket waits for a callback to return
        self._cast: dict[Any, int] = {}  # destination -> MSG_BCAST / MSG_MCAST / 0
        self._last_local: Any = None
        self._last_cast = 0
        self._cancel = self._cancel_receive  # every request's cancel routine: bound once
        # Provider side: a native twin of one client's steady state (wskrecv.hosting.native,
        # for listen's client): completer(requests, backlog) completes the head requests
        # that are in it as this code would, in order, and says how many (0: the head one
        # is this code's). None: every request completes here.
        self.completer: Optional[Callable[[deque, deque], int]] = None
        # Provider side: called after WskRelease or a re-enable, from whichever thread made
        # the call, because demand() may have grown; the receive loop wakes up on it.
        self.ready_callback: Optional[Callable[[], None]] = None

    # WSK_SOCKET.Dispatch: WSK_PROVIDER_DATAGRAM_DISPATCH, whose WskReceiveFrom, WskRelease,
    # WskControlSocket and WskCloseSocket are the client API's functions. The provider's
    # table is filled in by wskrecv.wsk.dispatch (which imports this module) when the
    # package loads.
    Dispatch: ClassVar[Any] = None

    # -- application side -------------------------------------------------------------

    def set_dispatch(
        self, socket_context: Any, dispatch: Optional[WskClientDatagramDispatch]
    ) -> None:
        """The SocketContext and Dispatch (WSK_CLIENT_DATAGRAM_DISPATCH) a client gives
        WskSocket; here settable after creation because the command creates the socket."""
        self.events.set_dispatch(socket_context, dispatch)

    def bind(self, local_address: tuple) -> NTSTATUS:
        """WskBind: record the local transport address (the provider did the real bind)."""
        step(self, SocketEvent.BIND, self.verifier, "WskBind")
        self.local_address = local_address
        self.family = AF_INET6 if len(local_address) > 2 else AF_INET
        self.source.family = self.family
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
        """WskReceiveFrom: post a receive.

        Every path completes the IRP through its completion routine. A datagram the
        provider already holds completes it before this returns: STATUS_SUCCESS. Otherwise
        STATUS_PENDING, or the failure the IRP completed with (STATUS_INVALID_PARAMETER
        for a bad request, STATUS_FILE_FORCED_CLOSED the first time after the socket
        stopped working, STATUS_CANCELLED for an IRP IoCancelIrp had cancelled before).
        Called from inside a completion routine it always pends (the provider's loop
        completes it next), so a routine that reposts never recurses.

        Rule breaks are raised before the IRP changes hands (it stays the caller's): a
        call after WskCloseSocket was called (SocketClosed), and a request on a socket the
        provider has already said no longer works (CallAfterSocketFailure: a routine that
        reposts whatever the status stops there instead of recursing).
        """
        if self.faults is not None:
            self.faults.called("WskReceiveFrom")
        if self.state is not _BOUND:
            self._check_open("WskReceiveFrom")
        if self._failure_told:
            raise self.verifier.record(
                "CallAfterSocketFailure",
                "WskReceiveFrom after the socket stopped working (STATUS_FILE_FORCED_CLOSED, "
                "or the NULL indication): close it with WskCloseSocket")
        # The buffers of a request still pending are its own (PFN_WSK_RECEIVE_FROM). A
        # driver reposting an IRP with its own buffers passes the first test at once.
        owner = buf.owner
        if owner is not irp and owner is not None and owner.state is _PENDING:
            self._buffer_in_use(buf)
        cells = None  # the ULONG cells that change hands (a reposted IRP keeps its own)
        if control_flags is not None and control_flags.owner is not irp:
            cells = self._take_cells(irp, control_flags, control_length)
        elif control_length is not None and control_length.owner is not irp:
            cells = self._take_cells(irp, control_length)
        irp.submit(self.verifier)  # a rule it breaks leaves every owner as it was
        buf.owner = irp
        if cells:
            for cell in cells:
                cell.owner = irp
        if self._broken:
            self._failure_told = True  # the client hears it now: closing is its next step
            self.counts.failures += 1
            io_complete_request(irp, STATUS_FILE_FORCED_CLOSED)
            return STATUS_FILE_FORCED_CLOSED
        if flags != 0 or not buf.is_valid():
            self.counts.failures += 1
            io_complete_request(irp, STATUS_INVALID_PARAMETER)
            return STATUS_INVALID_PARAMETER
        irp.request = (buf, remote_address, control_length, control_info, control_flags)
        if (self._backlog or self._kept) and not self._pumping and not self._held:
            with self.lock:
                if not self._requests and (self._backlog or self.events.kept):
                    self._pumping = True
                    try:
                        dgram = self.events.take_kept() or self._backlog.popleft()
                        self._complete_receive(irp, dgram)
                    finally:
                        self._pumping = False
                    self._pump()  # what the routine posted meanwhile
                    return STATUS_SUCCESS
                if irp.cancel:
                    return self._cancel_on_queue(irp)
                irp.cancel_routine = self._cancel
                self._requests.append(irp)
                self._pump()
                return STATUS_PENDING
        if irp.cancel:
            return self._cancel_on_queue(irp)
        irp.cancel_routine = self._cancel
        self._requests.append(irp)
        if not self._pumping:
            # Not a repost from a routine the provider runs (it looks at demand() next):
            # a start hook's or another thread's request may find the receive loop
            # waiting with nothing wanted. Appended first, so a loop that finished
            # pumping meanwhile either counts this request or is woken for it.
            self._notify_ready()
        return STATUS_PENDING

    def control_socket(
        self,
        request_type: int,
        control_code: int,
        level: int,
        input_buffer: Any,
        irp: Optional[Irp] = None,
    ) -> NTSTATUS:
        """WskControlSocket, for what a datagram receiver uses:

        - WskSetOption SO_WSK_EVENT_CALLBACK (SOL_SOCKET) with a WskEventCallbackControl:
          WSK_EVENT_RECEIVE_FROM enables the callback (again, after a
          STATUS_DATA_NOT_ACCEPTED: the kept datagrams are indicated first, before this
          returns); with WSK_EVENT_DISABLE it disables it. Disabling while a callback runs
          returns STATUS_PENDING (with `irp`, completed once the callback returned) or
          STATUS_EVENT_PENDING (without). Enabling before WskBind is `EventBeforeBind`;
          changing a statically enabled callback is `StaticEventCallback`.
        - WskSetOption IP_PKTINFO (IPPROTO_IP) / IPV6_PKTINFO (IPPROTO_IPV6) with a
          nonzero int: datagrams carry IN_PKTINFO / IN6_PKTINFO control data.
        - WskIoctl SIO_TIMESTAMPING (SOL_SOCKET) with a TimestampingConfig whose Flags have
          TIMESTAMPING_FLAG_RX: datagrams carry an SO_TIMESTAMP control message.

        Anything else is not modelled: STATUS_INVALID_PARAMETER (the IRP, if any, is
        completed with it).
        """
        if self.faults is not None:
            self.faults.called("WskControlSocket")
        with self.lock:
            self._check_open("WskControlSocket")
            if irp is not None:
                irp.submit(self.verifier)
            try:
                status = self._control(request_type, control_code, level, input_buffer, irp)
            except WskApiViolation:
                # The call fails: "the IRP will be completed with failure status", never
                # left pending (PFN_WSK_CONTROL_SOCKET).
                if irp is not None:
                    io_complete_request(irp, STATUS_INVALID_PARAMETER)
                raise
            if irp is not None and status != STATUS_PENDING:
                io_complete_request(irp, status)
        if status == STATUS_SUCCESS:
            self._notify_ready()
        return status

    def release(self, indication: Optional[WskDatagramIndication]) -> NTSTATUS:
        """WskRelease: give back a list (or the part of one that ends at a `next` of None)
        the callback retained with STATUS_PENDING, or part of the list it is being handed
        right now. Safe from any thread.

        All or nothing: if any indication in the list is not held (`ReleaseNotHeld`) or is
        reached twice (`ReleasedTwice`), the violation is raised and nothing is released.
        """
        if self.faults is not None:
            self.faults.called("WskRelease")
        with self.lock:
            self._check_open("WskRelease")
            self.events.release(indication)
            self._pump()
        self._notify_ready()
        return STATUS_SUCCESS

    def close(self, irp: Optional[Irp] = None) -> NTSTATUS:
        """WskCloseSocket: cancel every outstanding request (FIFO), drop what the provider
        still keeps, then close. Lists the application still retains are leaks: counted,
        and the `IndicationLeaked` rule. No NULL indication: that means a socket that no
        longer works, not an orderly close.

        Called from inside the receive callback, the close waits for the callback to
        return: STATUS_PENDING, and `irp` completes then. `irp` may be None in the model
        (as if an IRP had been given and waited for)."""
        if self.faults is not None:
            self.faults.called("WskCloseSocket")
        with self.lock:
            self._check_open("WskCloseSocket")
            if irp is not None:
                irp.submit(self.verifier)
            step(self, SocketEvent.CLOSE, self.verifier, "WskCloseSocket")
            counts = self.counts
            raised: Optional[Exception] = None
            self._held = False  # nothing is handed over any more: what waits is discarded
            cancelling, self._cancelling = self._cancelling, []
            while self._requests or cancelling:
                request = cancelling.pop(0) if cancelling else self._requests.popleft()
                counts.cancellations += 1
                try:
                    io_complete_request(request, STATUS_CANCELLED)
                except Exception as exc:  # a completion routine raised: close all the same
                    raised = raised or exc
            if self.events.in_callback:
                self._close_irp = irp
                self._close_pending = True
                status = STATUS_PENDING
            else:
                self._finish_close(irp)
                status = STATUS_SUCCESS
        if raised is not None:
            raise raised  # once the close is done: the caller reports the routine's fault
        return status

    # -- provider side ----------------------------------------------------------------

    @property
    def tap(self) -> Optional[Tap]:
        """What counts the datagrams the client accepted (see Tap); None: nothing does."""
        return self.events.tap

    @tap.setter
    def tap(self, tap: Optional[Tap]) -> None:
        self.events.tap = tap

    @property
    def outstanding(self) -> int:
        """Receive IRPs posted and not yet completed."""
        return len(self._requests)

    @property
    def in_flight(self) -> int:
        """Datagrams delivered that nobody has finished with: in the provider or held by
        the application. It drops only after the application has recorded them, so
        reading it before the application's own count never undercounts (the receive
        loop relies on that across threads)."""
        return self.counts.in_flight

    @property
    def closed(self) -> bool:
        return self.state in (SocketState.CLOSING, SocketState.CLOSED)

    @property
    def broken(self) -> bool:
        """The socket no longer works (`fail`) and is not closed: WskCloseSocket is left."""
        return self._broken and not self.closed

    @property
    def event_enabled(self) -> bool:
        """Whether WskReceiveFromEvent would be called now (enabled and not paused)."""
        return self.events.accepting

    @property
    def kept(self) -> int:
        """Datagrams the provider keeps after STATUS_DATA_NOT_ACCEPTED."""
        return len(self.events.kept)

    @property
    def broadcast_addresses(self) -> frozenset[str]:
        """The host's broadcast addresses (the provider tells): MSG_BCAST for these."""
        return self.events.broadcast

    @broadcast_addresses.setter
    def broadcast_addresses(self, addresses: frozenset[str]) -> None:
        self.events.broadcast = frozenset(addresses) | {"255.255.255.255"}
        self.events._last_local = None
        self._cast.clear()
        self._last_local = None

    def statistics(self) -> SocketStatistics:
        """The counts, queues and pool at this instant (frozen)."""
        c = self.counts
        pool = self.pool
        return SocketStatistics(
            **{name: getattr(c, name) for name in SocketCounts.__slots__},
            outstanding=len(self._requests),
            backlog=len(self._backlog),
            kept=len(self.events.kept),
            event_enabled=self.events.accepting,
            pool_in_use=pool.in_use,
            pool_high_water=pool.high_water,
            pool_capacity=pool.capacity,
        )

    def accounting(self) -> dict[str, int]:
        """Where every delivered datagram is now; the values add up to `received`."""
        return self.statistics().accounting()

    def demand(self) -> int:
        """How many more datagrams the socket can take now (0: leave them in the OS)."""
        if self.state is not _BOUND or self._broken:
            return 0
        room = len(self._requests) - len(self._backlog) - len(self._kept)
        if self.events.accepting:  # the callback takes what the pool holds
            room += self.pool.free
        return room if room > 0 else 0

    def deliver(self, datagrams: Iterable[Datagram]) -> None:
        """Hand over datagrams read from the OS (one batch): pending receives complete in
        FIFO order, the rest go to the event callback as one indication list."""
        if not isinstance(datagrams, list):
            datagrams = list(datagrams)
        if self.faults is not None:  # the injector decides what this delivery meets
            with self.lock:
                self.faults.deliver(self, datagrams)
            return
        if self._threaded:
            with self.lock:
                self._deliver(datagrams)
        else:  # one thread (listen): skip the no-op lock, this runs for every read
            self._deliver(datagrams)

    def deliver_now(self, datagrams: list[Datagram]) -> None:
        """`deliver` past the injector (which calls it), with the socket's lock held."""
        self._deliver(datagrams)

    def _deliver(self, datagrams: list[Datagram]) -> None:
        counts = self.counts
        counts.received += len(datagrams)
        if self.state is not _BOUND:
            counts.discarded += len(datagrams)
            return
        counts.in_flight += len(datagrams)
        self._backlog.extend(datagrams)
        self._pump()

    def fail(self, status: int = STATUS_FILE_FORCED_CLOSED) -> None:
        """The OS socket broke: complete every outstanding receive with `status` and call
        the event callback with a NULL indication (the application must close). Requests
        posted afterwards complete with STATUS_FILE_FORCED_CLOSED."""
        with self.lock:
            self._broken = True
            if self._requests or self.events.state in CALLBACK_NULL:
                self._failure_told = True  # a failed request, or the NULL indication
            # Every request pending now fails, even when a routine closes the socket.
            failing = list(self._requests)
            self._requests.clear()
            raised: Optional[Exception] = None
            for irp in failing:
                self.counts.failures += 1
                try:
                    io_complete_request(irp, status)
                except Exception as exc:  # a completion routine raised: fail them all
                    raised = raised or exc
            self.events.indicate_null()
        if raised is not None:
            raise raised

    # -- the provider's side, for fault injection (inject.py) ---------------------------

    @property
    def requests(self) -> deque[Irp]:
        """The posted WskReceiveFrom requests, oldest first (read, not changed)."""
        return self._requests

    def is_waiting(self, irp: Irp) -> bool:
        """Whether `irp` is a posted request still waiting for a datagram."""
        return irp in self._requests

    def fail_request(self, irp: Irp, status: int) -> None:
        """Complete the waiting request `irp` with failure `status` (PFN_WSK_RECEIVE_FROM:
        "the IRP will be completed with failure status"); its datagram waits for the next."""
        self._requests.remove(irp)
        self.counts.failures += 1
        io_complete_request(irp, status)

    @property
    def held(self) -> bool:
        """The provider hands nothing over until `resume` (a delay)."""
        return self._held

    def hold(self) -> None:
        """Hand nothing over (completions, callbacks) until `resume`."""
        self._held = True

    def resume(self) -> None:
        """Hand over what waited (the end of a delay)."""
        with self.lock:
            self._held = False
            self._pump()
        self._notify_ready()

    def feed(self) -> None:
        """The buffers taken elsewhere are back in the pool: indicate what waited."""
        with self.lock:
            self.pool.feed()
            self._pump()
        self._notify_ready()

    def complete_cancel(self, irp: Irp) -> None:
        """The late completion of a cancelled request (STATUS_CANCELLED)."""
        with self.lock:
            if irp not in self._cancelling:
                return  # the close completed it already
            self._cancelling.remove(irp)
            self.counts.cancellations += 1
            io_complete_request(irp, STATUS_CANCELLED)

    # -- internals --------------------------------------------------------------------

    def _take_cells(self, irp: Irp, *cells: Optional[ULongRef]) -> list[ULongRef]:
        """The ControlFlags / ControlLength cells `irp`'s request takes over: a caution for
        each that is still another pending request's."""
        taken = []
        for cell in cells:
            if cell is None or cell.owner is irp:
                continue
            owner = cell.owner
            if owner is not None and owner.state is _PENDING:
                self._buffer_in_use(cell)
            taken.append(cell)
        return taken

    def _buffer_in_use(self, cell: Any) -> None:
        """A caution, not a rule: the request goes ahead (both write the same memory)."""
        self.verifier.record(
            "RequestBufferInUse", f"{type(cell).__name__} of a WskReceiveFrom that has not completed"
        )

    def _check_open(self, what: str) -> None:
        """SocketClosed once WskCloseSocket was called (the table says so)."""
        if self.state in (_CLOSING, _CLOSED) and self.closer != "the client":
            what += f" ({self.closer} called WskCloseSocket: the client had not)"
        step(self, SocketEvent.CALL, self.verifier, what)

    def _notify_ready(self) -> None:
        callback = self.ready_callback
        if callback is not None:
            callback()

    def _control(
        self, request_type: int, code: int, level: int, value: Any, irp: Optional[Irp]
    ) -> NTSTATUS:
        source = self.source
        if request_type == WskSetOption and code == SO_WSK_EVENT_CALLBACK and level == SOL_SOCKET:
            return self._event_callback(value, irp)
        if request_type == WskSetOption and isinstance(value, int):
            # IP_PKTINFO at IPPROTO_IP is an IPv4 option: on an AF_INET6 (dual-stack) socket
            # it asks for IN_PKTINFO on the IPv4 datagrams, as msquic's kernel datapath
            # sets it there beside IPV6_PKTINFO (failure is fatal to it).
            if (level, code) == (IPPROTO_IP, IP_PKTINFO):
                source.set_pktinfo(AF_INET, bool(value))
                return STATUS_SUCCESS
            if (level, code) == (IPPROTO_IPV6, IPV6_PKTINFO) and self.family == AF_INET6:
                source.set_pktinfo(AF_INET6, bool(value))
                return STATUS_SUCCESS
        # "If RequestType is WskIoctl, the Level parameter is ignored" (PFN_WSK_CONTROL_SOCKET).
        if (request_type, code) == (WskIoctl, SIO_TIMESTAMPING) and isinstance(
            value, TimestampingConfig
        ):
            source.timestamps = bool(value.flags & TIMESTAMPING_FLAG_RX)
            return STATUS_SUCCESS
        return STATUS_INVALID_PARAMETER

    def _event_callback(self, control: Any, irp: Optional[Irp]) -> NTSTATUS:
        if not isinstance(control, WskEventCallbackControl):
            return STATUS_INVALID_PARAMETER
        mask = control.event_mask
        if mask & ~(WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE) or not mask & WSK_EVENT_RECEIVE_FROM:
            return STATUS_INVALID_PARAMETER
        events = self.events
        if events.static:  # before any other check: the table names the rule
            raise forbidden(events.state, CallbackEvent.ENABLE, self.verifier)
        if self.state is SocketState.CREATED:  # enabling or disabling (SO_WSK_EVENT_CALLBACK)
            which = "WSK_EVENT_DISABLE" if mask & WSK_EVENT_DISABLE else "WSK_EVENT_RECEIVE_FROM"
            raise self.verifier.record(
                "EventBeforeBind", f"SO_WSK_EVENT_CALLBACK({which}) before WskBind"
            )
        if mask & WSK_EVENT_DISABLE:
            return events.disable(irp)
        if irp is not None:
            return STATUS_INVALID_PARAMETER  # enabling takes no IRP (SO_WSK_EVENT_CALLBACK)
        if events.callback is None:
            return STATUS_INVALID_PARAMETER  # the client dispatch has no callback
        events.enable()
        self._pump()
        return STATUS_SUCCESS

    def _pump(self) -> None:
        """Hand what the provider holds to requests first, then to the callback.

        Re-entrant calls (a completion routine posting, a callback releasing or
        re-enabling) return at once: the outer loop picks up what they changed.
        """
        if self._pumping or self._held:
            return
        self._pumping = True
        try:
            requests = self._requests
            backlog = self._backlog
            events = self.events
            kept = self._kept
            while True:
                if requests:
                    if kept:
                        self._complete_receive(requests.popleft(), events.take_kept())  # type: ignore[arg-type]
                        continue
                    if backlog:
                        completer = self.completer
                        while requests and backlog:
                            if completer is None or not completer(requests, backlog):
                                self._complete_receive(requests.popleft(), backlog.popleft())
                        continue
                if (
                    (backlog or kept)
                    and self.state is _BOUND
                    and not self._broken
                    and events.indicate(backlog)
                ):
                    continue
                break
        finally:
            self._pumping = False
        if self._close_pending and not self.events.in_callback:
            self._finish_close(self._close_irp)

    def _finish_close(self, irp: Optional[Irp]) -> None:
        """The second half of WskCloseSocket, once no callback runs."""
        self._close_pending = False
        self._close_irp = None
        events = self.events
        events.close()
        counts = self.counts
        dropped = events.discard_kept() + len(self._backlog)
        self._backlog.clear()
        counts.discarded += dropped
        counts.in_flight -= dropped
        if counts.held:
            counts.leaked += counts.held
            counts.in_flight -= counts.held
            self.verifier.record(
                "IndicationLeaked", f"{counts.held} retained datagrams never released",
                culprit=events.callback,
            )
            counts.held = 0
        step(self, SocketEvent.CLOSED)
        if irp is not None:
            io_complete_request(irp, STATUS_SUCCESS)

    def _complete_receive(self, irp: Irp, dgram: Datagram) -> None:
        buf, remote_address, control_length, control_info, control_flags = irp.request
        data = dgram[0]
        n = buf.fill(data)
        flags = _MSG_TRUNC if n < len(data) else 0
        local = dgram[2]
        if local is not None:
            if local is self._last_local:  # providers hand out one tuple per destination
                flags |= self._last_cast
            else:
                flags |= self._cast_of(local)
        if remote_address is not None:
            remote_address.set(dgram[1])
        if control_length is not None:
            if control_info is None:
                control_length.value = 0
            else:
                source = self.source
                info, family = source.packet_info(local)
                msgs, used, ctrunc = build_control(
                    info, family, dgram[3] if source.timestamps else None, control_length.value)
                control_info[:] = msgs
                control_length.value = used
                if ctrunc:
                    flags |= _MSG_CTRUNC
        if control_flags is not None:
            control_flags.value = flags
        tap = self.events.tap
        if tap is not None:
            tap.completed(dgram, n, bool(flags & _MSG_TRUNC))
        try:
            io_complete_request(irp, STATUS_SUCCESS, n)
        finally:  # even when the routine raised: the datagram was handed over
            counts = self.counts
            counts.completions += 1  # after the routine recorded it: see `in_flight`
            counts.in_flight -= 1

    def _cast_of(self, local: Any) -> int:
        """MSG_BCAST / MSG_MCAST / 0 for a destination, remembered."""
        cast = self._cast.get(local)
        if cast is None:
            if len(self._cast) >= 1024:
                self._cast.clear()
            cast = self._cast[local] = cast_flags(local, self.events.broadcast)
        self._last_local = local
        self._last_cast = cast
        return cast

    def _cancel_on_queue(self, irp: Irp) -> NTSTATUS:
        """A request whose IRP IoCancelIrp already cancelled (the Cancel bit set while no
        cancel routine could be called): "The IRP should be canceled at a later time when
        it becomes cancelable" (IoCancelIrp), which is now, as it would be queued."""
        self.counts.cancellations += 1
        io_complete_request(irp, STATUS_CANCELLED)
        return STATUS_CANCELLED

    def _cancel_receive(self, irp: Irp) -> None:
        try:
            self._requests.remove(irp)
        except ValueError:  # already being completed
            return
        faults = self.faults
        if faults is not None and faults.defer_cancel(self, irp):
            self._cancelling.append(irp)  # completed late (complete_cancel), or by a close
            return
        self.counts.cancellations += 1
        io_complete_request(irp, STATUS_CANCELLED)


__all__ = ["SocketState", "WskDatagramSocket"]
