"""Running a client on a socket: what the runner drives, what counts, what is blamed.

`ClientHost` is the application the runner starts and stops, for `wskrecv run CLIENT.py`
and for the clients `listen` and `event` run (wskrecv/builtin): one code path. It does for
a client what WSK does for a driver: creates the socket with the client's dispatch table and socket
context (`WskSocket`), binds it, calls the start hook; at the end calls the stop hook
and closes the socket if the client did not (`WskCloseSocket`: outstanding receives are
cancelled, retained lists leak). It also

- counts every datagram the client accepted (a `Tap` on the socket feeds the recorder),
  so the statistics, the dashboard and the thresholds work for any client unchanged;
- gives the verifier a locator: each rule break is blamed on the client's own line
  (`ClientCode.locate`, blame.py);
- deregisters the client once its stop hook has returned (WskDeregister: its
  registration counted its IRPs from before its constructor ran): those not freed with
  IoFreeIrp are leaks (`IrpLeaked`, one per IRP, blamed on the IoAllocateIrp call), as
  Driver Verifier's Pool Tracking reports what a driver did not free when it unloads;
- turns an exception out of the client's code (a hook, a completion routine, a
  callback, a thread of its own) into a *client fault*: the run ends with its summary and
  the traceback, the stop hook is not called again, and what the client held leaks.

wskrecv's own clients are hosted the same way, with what trusted code needs instead: a
fault in them is wskrecv's (an internal error, exit 1, not a client fault), their rule
breaks do not decide the exit status, no watchdog interrupts them, and their `statistics`
hook gives the style's own statistics (IrpStatistics, EventStatistics).
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from typing import Any, Callable, Optional

from wskrecv.errors import Ending
from wskrecv.hosting.blame import (
    BUILTIN_CLIENTS,
    RELEASED_VIEW,
    ClientCode,
    ClientFault,
    describe_fault,
    describe_holder,
    wskrecv_fault,
)
from wskrecv.hosting.lock import SocketLock
from wskrecv.hosting.watchdog import DEFAULT_GRACE, ClientStuck, Watchdog
from wskrecv.runner.contracts import StopRequest
from wskrecv.stats.modes import ClientStatistics, ModeStatistics
from wskrecv.stats.recorder import Recorder
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.inject import Injector
from wskrecv.wsk.outcomes import Outcome
from wskrecv.wsk.registration import WskRegistration
from wskrecv.wsk.socket import WskDatagramSocket
from wskrecv.wsk.verifier import CAUTIONS, RULES


def kept(local: Optional[tuple]) -> dict[str, Any]:
    """What a kept datagram's packet info says: its destination address, and its TOS and
    TTL when the socket asked for them (provider.mmsg.read_ancillary)."""
    if not local:
        return {"local": None}
    if len(local) > 2:
        return {"local": local[0], "tos": local[2], "ttl": local[3]}
    return {"local": local[0]}


class RecorderTap:
    """The socket's Tap: every datagram the client accepted goes to the recorder, under
    the recorder's lock when it has one (a client's thread may deliver, through WskRelease
    or a re-enable). Completions are counted one by one, accepted lists in one batch."""

    __slots__ = ("recorder", "want_local", "lock", "_record", "_locked")

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.lock = recorder.lock
        self._record = recorder.record
        self._locked = not isinstance(recorder.lock, nullcontext)  # one thread: no lock
        # The destination address only matters to kept datagrams (--dump/--pcap).
        self.want_local = recorder.dumped is not None

    def completed(self, dgram: Datagram, length: int, truncated: bool) -> None:
        data = dgram[0]
        if length != len(data):
            data = data[:length]
        if self.want_local:  # a kept datagram: with its destination, TOS and TTL
            if self._locked:
                with self.lock:
                    self._record(data, dgram[1], dgram[3], truncated, **kept(dgram[2]))
            else:
                self._record(data, dgram[1], dgram[3], truncated, **kept(dgram[2]))
        elif self._locked:
            with self.lock:
                self._record(data, dgram[1], dgram[3], truncated)
        else:  # listen: every completion comes here, from the one thread
            self._record(data, dgram[1], dgram[3], truncated)

    def accepted(self, dgrams: list[Datagram]) -> None:
        if self.want_local:  # kept datagrams: one at a time, with their destination
            record = self.recorder.record
            now = self.recorder.clock_ns()  # consumed at one instant, as record_many does
            with self.lock:
                for d in dgrams:
                    record(d[0], d[1], d[3], False, now, **kept(d[2]))
            return
        datas, remotes, _, stamps = zip(*dgrams)
        with self.lock:
            self.recorder.record_many(datas, remotes, stamps)


class ClientHost:
    """The runner's application for one client object on one socket."""

    def __init__(
        self,
        client: Any,
        sock: WskDatagramSocket,
        recorder: Recorder,
        code: ClientCode,
        mode: str = "client",
        grace: float = DEFAULT_GRACE,
        deadline: Optional[float] = None,
        registration: Optional[WskRegistration] = None,
    ) -> None:
        self.client = client
        # The client's WskRegister: its IRPs, counted since before its constructor ran
        # (the creator registered it); those still allocated at WskDeregister are leaks.
        self.registration = registration
        self.sock = sock
        self.code = code
        self.mode = mode
        self.builtin = code.builtin  # wskrecv's own client (listen, event): trusted code
        # A built-in client's statistics hook: its style's statistics from the counts.
        self._style: Optional[Callable[[Any], ModeStatistics]] = (
            client.statistics if self.builtin else None)
        self.fault: Optional[ClientFault] = None
        # The runner's request_stop (given by `attach`): a thread's fault ends the run.
        self.stop_run: StopRequest = lambda reason, ending: None
        context = getattr(client, "socket_context", None)
        # WskSocket(..., SocketContext, Dispatch): what the client offers for callbacks.
        sock.set_dispatch(client if context is None else context, getattr(client, "dispatch", None))
        sock.tap = RecorderTap(recorder)
        sock.verifier.locate = code.locate
        self._started = False  # the start hook was called (the run may end before)
        self._stopped = False
        self._old_hook: Any = None
        self._threads_before: set[threading.Thread] = set()
        # Ends the run when the client's code does not return (see watchdog.py);
        # `deadline`: seconds after start when the run ends on its own.
        lock = sock.lock if isinstance(sock.lock, SocketLock) else None
        self.watchdog = Watchdog(code.owns, grace,
                                 request_stop=lambda reason: self.stop_run(reason, Ending.COMPLETE),
                                 lock=lock)
        self._deadline = deadline

    # -- runner.contracts.Receiver -----------------------------------------------------

    def attach(self, request_stop: StopRequest,
               thread_fault: Callable[[BaseException], None]) -> None:
        """The runner's hooks: `request_stop` ends the run (a fault of the client's, on
        any thread); `thread_fault` hears of an exception on a built-in client's own
        thread (its work items catch them and pass them on; the run ends with exit 1)."""
        self.stop_run = request_stop
        if self.builtin:
            self.client.on_thread_fault = thread_fault

    def start(self) -> None:
        """Catch the client's own threads' exceptions, then its start hook."""
        self._threads_before = set(threading.enumerate())
        if not self.builtin:
            self._old_hook = threading.excepthook
            threading.excepthook = self._thread_fault
            self.watchdog.start(self._deadline)
        self._started = True
        self.client.start(self.sock)

    def stop(self) -> None:
        """The stop hook (unless the client faulted, or never started: the run ended
        before), then WskCloseSocket if still open."""
        if self._stopped:
            return
        self._stopped = True
        if not self._started:
            self._deregister(check=False)
            self._close()
            return
        faults = self.sock.faults
        try:
            if faults is not None:  # did the client stop receiving after a fault?
                faults.judge_stall()
            if self.fault is None:
                self.watchdog.hook("stop")
                try:
                    self.client.stop()
                except (Exception, ClientStuck) as exc:
                    if not self.on_fault(exc):
                        raise
            if faults is not None:
                self._faults_left(faults)
            # The client is done with its IRPs now (after a fault: it held these).
            self._deregister(check=True)
            self.watchdog.hook("close")
            self._close()
        finally:
            self._deregister(check=False)
            self.watchdog.stop()
            if self._old_hook is not None:
                threading.excepthook = self._old_hook

    def _faults_left(self, faults: Injector) -> None:
        """Once the client stopped: the IRPs it never freed and a failed socket it never
        closed are what injected faults leaked."""
        if self.registration is not None:
            faults.ledger.irps_left(self.registration.irps.outstanding())
        if self.sock.broken:
            faults.ledger.socket_left_open()

    def _deregister(self, check: bool) -> None:
        """WskDeregister (once): with `check`, the IRPs still allocated are leaks."""
        registration = self.registration
        if registration is not None and registration.registered:
            registration.deregister(check)

    def stray_threads(self) -> list[str]:
        """Threads the client started that still run (and would keep the process alive)."""
        return [
            t.name for t in threading.enumerate()
            if t not in self._threads_before and t.is_alive() and not t.daemon
        ]

    def stop_requested(self, reason: str) -> None:
        """The runner was asked to stop: the client's running routine has a grace period."""
        self.watchdog.stop_requested(reason)

    def _close(self) -> None:
        """Close for the client; after a fault, its routines' further exceptions are
        counted (they still run: WskCloseSocket cancels what is outstanding)."""
        if self.sock.closed:
            return
        try:
            self.sock.close()
        except (Exception, ClientStuck) as exc:
            if not self.on_fault(exc):
                raise

    def statistics(self) -> ModeStatistics:
        """A built-in client's own style's statistics; for yours, both styles' counters
        (a client may use either or both) and its report."""
        counts = self.sock.statistics()
        if self._style is not None:
            return self._style(counts)
        # The styles it uses: a dispatch table offers the callback; a posted receive is IRPs.
        irp = bool(counts.outstanding or counts.completions or counts.cancellations
                   or counts.failures)
        event = getattr(self.client, "dispatch", None) is not None or bool(counts.callbacks)
        styles = tuple(name for name, used in (("irp", irp), ("event", event)) if used)
        return ClientStatistics.from_socket(counts, client=self.report(), styles=styles)

    def report(self) -> dict[str, Any]:
        """The client's part of the summary: who, what it broke where, its fault."""
        verifier = self.sock.verifier
        sites = [
            {"rule": rule, "where": where, "count": n, "detail": verifier.details.get((rule, where), ""),
             "kind": "caution" if rule in CAUTIONS else "rule", "source": RULES[rule].source}
            for (rule, where), n in sorted(verifier.sites.items(), key=lambda kv: (-kv[1], kv[0][0]))
        ]
        return {
            "class": type(self.client).__name__,
            "file": self.code.shown_as,
            "violation_sites": sites,
            "fault": self.fault.as_dict() if self.fault is not None else None,
        }

    def verdict(self) -> Ending:
        """How a run that otherwise ended well ended: CLIENT_VIOLATIONS when the verifier
        counted a rule break (a leaked IRP is one) or the client leaked datagrams, and
        CLIENT_STALLED when it stopped receiving after an injected fault. wskrecv's own
        clients are judged by what they did after injected faults only: otherwise listen
        and event exit as they always did."""
        faults = self.sock.faults
        after = faults.ledger.worst if faults is not None else Outcome.RECOVERED
        if after is Outcome.VIOLATED or after is Outcome.LEAKED:
            return Ending.CLIENT_VIOLATIONS
        if not self.builtin and (self.sock.verifier.total or self.sock.counts.leaked):
            return Ending.CLIENT_VIOLATIONS
        if after is Outcome.STALLED:
            return Ending.CLIENT_STALLED
        return Ending.COMPLETE

    # -- faults -----------------------------------------------------------------------

    def on_fault(self, exc: BaseException) -> bool:
        """The runner's fault hook: True (and recorded) when `exc` came out of client code
        (never for wskrecv's own clients: their fault is wskrecv's)."""
        if wskrecv_fault(exc):
            # Nothing from here on is the client's: no leak, no violation found while the
            # run is torn down is charged to it (the run ends as an internal error).
            self.sock.verifier.halt()
            return False
        if self.builtin:
            return False
        if isinstance(exc, ValueError) and str(exc) == RELEASED_VIEW:
            self._released_view_read(exc)
        if isinstance(exc, ClientStuck) and exc.holder is not None:
            fault: Optional[ClientFault] = describe_holder(self.code, exc, exc.holder)
        else:
            fault = describe_fault(self.code, exc)
        if fault is None:
            return False
        self._record(fault)
        return True

    def _record(self, fault: ClientFault) -> None:
        if self.fault is None:
            self.fault = fault
            if self.sock.faults is not None:  # the last injected fault crashed it
                self.sock.faults.ledger.crashed(
                    f"{fault.exception} in {fault.kind} {fault.routine} ({fault.where})")
        else:
            self.fault.later += 1
        self.stop_run(Ending.CLIENT_FAULT.value, Ending.CLIENT_FAULT)

    def _released_view_read(self, exc: BaseException) -> None:
        """A read through a view of an indication's Buffer MDL that the provider released
        (the indication went back): the UseAfterRelease rule, at the client's line."""
        frames = self.code.client_frames(exc.__traceback__)
        if frames:
            last = frames[-1]
            self.sock.verifier.record(
                "UseAfterRelease", "read through the Buffer's MDL after the indication went back",
                where=self.code.show(last.tb_frame.f_code.co_filename, last.tb_lineno))

    def _thread_fault(self, args: threading.ExceptHookArgs) -> None:
        exc = args.exc_value
        if exc is not None and wskrecv_fault(exc) and self._on_thread_fault is not None:
            self.sock.verifier.halt()
            self._on_thread_fault(exc)  # the run ends as wskrecv's internal error
            return
        if exc is not None and args.exc_type is not SystemExit:
            if isinstance(exc, ValueError) and str(exc) == RELEASED_VIEW:
                self._released_view_read(exc)
            name = args.thread.name if args.thread is not None else "?"
            fault = describe_fault(self.code, exc, thread=name)
            if fault is not None:
                self._record(fault)
                return
        if self._old_hook is not None:
            self._old_hook(args)


def host_builtin(
    make_client: Callable[[], Any], sock: WskDatagramSocket, recorder: Recorder,
    registration: Optional[WskRegistration] = None,
) -> ClientHost:
    """One of wskrecv's own clients (wskrecv/builtin), created by `make_client` with its IRPs
    counted from its constructor on by `registration` (the one `sock` came from), and
    hosted on `sock` like any `run` client."""
    code = ClientCode(BUILTIN_CLIENTS)
    sock.verifier.locate = code.locate  # where each IRP is allocated, from the start
    try:
        client = make_client()
    except BaseException:
        if registration is not None:
            registration.deregister(check=False)
        raise
    return ClientHost(client, sock, recorder, code, mode=client.mode, registration=registration)


__all__ = ["ClientHost", "RecorderTap", "host_builtin"]
