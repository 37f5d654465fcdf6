"""Running a client on a socket: what the runner drives, what counts, what is blamed.

`ClientHost` is the application the runner starts and stops. It does for a client what
WSK does for a driver: creates the socket with the client's dispatch table and socket
context (`WskSocket`), binds it, calls the start hook; at the end calls the stop hook
and closes the socket if the client did not (`WskCloseSocket`: outstanding receives are
cancelled, retained lists leak). It also

- counts every datagram the client accepted (a `Tap` on the socket feeds the recorder),
  so the statistics, the dashboard and the thresholds work for any client unchanged;
- gives the verifier a locator: each rule break is blamed on the client's own line
  (`ClientCode.locate`);
- tracks the client's IRPs (`IrpTracking`, from before its constructor runs): those not
  freed with IoFreeIrp when its stop hook has returned are leaks (`IrpLeaked`, one per
  IRP, blamed on the IoAllocateIrp call), as Driver Verifier's Pool Tracking reports what
  a driver did not free when it unloads;
- turns an exception out of the client's code (a hook, a completion routine, a
  callback, a thread of its own) into a *client fault*: the run ends with its summary and
  the traceback, the stop hook is not called again, and what the client held leaks.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Callable, Optional

from wskrecv.client import watchdog
from wskrecv.client.watchdog import DEFAULT_GRACE, ClientStuck, Watchdog
from wskrecv.errors import Ending
from wskrecv.runner import CLIENT_FAULT
from wskrecv.stats.modes import ClientStatistics
from wskrecv.stats.recorder import Recorder
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.irp import IrpTracker, track_irps
from wskrecv.wsk.socket import WskDatagramSocket
from wskrecv.wsk.verifier import Verifier

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # wskrecv/
_APPS = os.path.join(_PACKAGE, "apps")
_WATCHDOG = os.path.realpath(watchdog.__file__)
# Where a frame sits just above the client's code says what wskrecv was calling.
_ENTRY_KINDS = {
    "io_complete_request": "completion routine",
    "_indicate": "receive callback",
    "_indicate_null": "receive callback",
    "start": "start hook",
    "stop": "stop hook",
}


def _code_of(routine: Any) -> Any:
    """The code object behind a function, bound method, partial or callable object."""
    for _ in range(4):
        code = getattr(routine, "__code__", None)
        if code is not None:
            return code
        routine = (
            getattr(routine, "__func__", None)
            or getattr(routine, "func", None)
            or vars(type(routine)).get("__call__")
        )
        if routine is None:
            return None
    return None


class ClientCode:
    """Which source files are the client's, and how to show a place in them.

    A file is the client's when it lies under the client's folder and is not part of
    wskrecv or of the Python installation; wskrecv's own applications (wskrecv/apps)
    are clients too, when those are what runs.
    """

    def __init__(self, path: str, shown_as: Optional[str] = None) -> None:
        real = os.path.realpath(path)
        self.builtin = real.startswith(_APPS + os.sep) or real == _APPS
        self.root = _APPS if self.builtin else os.path.dirname(real)
        self.file = real
        self.shown_as = shown_as or path
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix}
        self._foreign = tuple(p + os.sep for p in prefixes if p) + (_PACKAGE + os.sep,)
        self._cache: dict[str, bool] = {}

    def owns(self, filename: str) -> bool:
        """Whether `filename` (a code object's) is client code."""
        known = self._cache.get(filename)
        if known is not None:
            return known
        real = os.path.realpath(filename)
        mine = real.startswith(self.root + os.sep) and (
            self.builtin or not real.startswith(self._foreign)
        )
        self._cache[filename] = mine
        return mine

    def show(self, filename: str, line: int) -> str:
        """`file:line` as the user knows the file."""
        real = os.path.realpath(filename)
        if real == self.file:
            name = self.shown_as
        elif self.builtin:
            name = os.path.relpath(real, os.path.dirname(_PACKAGE))
        else:
            name = os.path.relpath(real) if real.startswith(os.getcwd() + os.sep) else real
        return f"{name}:{line}"

    def locate(self, culprit: Optional[Callable[..., Any]] = None) -> Optional[str]:
        """The verifier's locator: the routine whose return value broke a rule (where it
        is defined), else the innermost client frame on the stack (the call)."""
        if culprit is not None:
            code = _code_of(culprit)
            if code is not None and self.owns(code.co_filename):
                return self.show(code.co_filename, code.co_firstlineno)
        frame: Optional[FrameType] = sys._getframe(1)
        while frame is not None:
            if self.owns(frame.f_code.co_filename):
                return self.show(frame.f_code.co_filename, frame.f_lineno)
            frame = frame.f_back
        return None

    def client_frames(self, tb: Optional[TracebackType]) -> list[TracebackType]:
        """The traceback entries in client code, outermost first."""
        out = []
        while tb is not None:
            if self.owns(tb.tb_frame.f_code.co_filename):
                out.append(tb)
            tb = tb.tb_next
        return out


class IrpTracking:
    """The IRPs a client allocates, counted from now until `end` (see wsk/irp.py)."""

    def __init__(self, code: ClientCode) -> None:
        self.tracker = IrpTracker(code.locate)
        self._previous = track_irps(self.tracker)
        self._ended = False

    def end(self) -> None:
        """Stop counting new allocations (idempotent); what is counted stays."""
        if not self._ended:
            self._ended = True
            track_irps(self._previous)

    def report_leaks(self, verifier: Verifier) -> int:
        """Each IRP still allocated is one `IrpLeaked`, at its IoAllocateIrp call. Once."""
        self.end()
        leaks = self.tracker.outstanding()
        self.tracker.live.clear()
        for irp, where in leaks:
            verifier.record("IrpLeaked", f"never freed with IoFreeIrp; left {irp.state.value}",
                            where=where)
        return len(leaks)


@dataclass
class ClientFault:
    """An exception out of the client's code, as the report shows it."""

    exception: str  # "ZeroDivisionError: division by zero"
    kind: str  # "completion routine", "receive callback", "start hook", "thread worker"...
    routine: str  # the client function wskrecv called
    where: str  # file:line of the innermost client line
    traceback: str  # from the first client frame down
    later: int = 0  # further exceptions while the run was torn down

    def as_dict(self) -> dict[str, Any]:
        return {"exception": self.exception, "in": self.kind, "routine": self.routine,
                "where": self.where, "traceback": self.traceback, "later": self.later}


def describe_fault(
    code: ClientCode, exc: BaseException, thread: Optional[str] = None
) -> Optional[ClientFault]:
    """A ClientFault for `exc` when its traceback runs through client code, else None."""
    tb = exc.__traceback__
    entries = code.client_frames(tb)
    if not entries:
        return None
    first = entries[0]
    kind = thread and f"thread {thread}"
    if kind is None:
        caller = None
        t = tb
        while t is not None and t is not first:
            caller = t.tb_frame.f_code.co_name
            t = t.tb_next
        kind = _ENTRY_KINDS.get(caller or "", caller or "client code")
    last = entries[-1]
    frames = traceback.extract_tb(first)
    if isinstance(exc, ClientStuck):  # raised from the watchdog's handler: not of interest
        frames = traceback.StackSummary.from_list(
            [f for f in frames if os.path.realpath(f.filename) != _WATCHDOG]
        )
        exception = f"stuck: {exc}"
    else:
        exception = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
    text += exception + "\n"
    return ClientFault(
        exception=exception,
        kind=kind,
        routine=first.tb_frame.f_code.co_name,
        where=code.show(last.tb_frame.f_code.co_filename, last.tb_lineno),
        traceback=text,
    )


class RecorderTap:
    """The socket's Tap: every datagram the client accepted goes to the recorder (under
    the recorder's lock: a client's thread may deliver, through WskRelease)."""

    __slots__ = ("recorder", "want_local", "lock")

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.lock = recorder.lock
        # The destination address only matters to kept datagrams (--dump/--pcap).
        self.want_local = recorder.dumped is not None

    def completed(self, dgram: Datagram, length: int, truncated: bool) -> None:
        data = dgram[0]
        if length != len(data):
            data = data[:length]
        local = dgram[2][0] if self.want_local and dgram[2] else None
        with self.lock:
            self.recorder.record(data, dgram[1], dgram[3], truncated, local=local)

    def accepted(self, dgrams: list[Datagram]) -> None:
        if self.want_local:  # kept datagrams: one at a time, with their destination
            record = self.recorder.record
            now = self.recorder.clock_ns()  # consumed at one instant, as record_many does
            with self.lock:
                for d in dgrams:
                    record(d[0], d[1], d[3], False, now, local=d[2][0] if d[2] else None)
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
        irps: Optional[IrpTracking] = None,
    ) -> None:
        self.client = client
        # The client's IRPs, counted since before its constructor ran (the creator started
        # it); those still allocated once the stop hook returned are leaks.
        self.irps = irps if irps is not None else IrpTracking(code)
        self.sock = sock
        self.code = code
        self.mode = mode
        self.fault: Optional[ClientFault] = None
        # The runner's request_stop (the runner sets it): a thread's fault ends the run.
        self.stop_run: Callable[[str], None] = lambda reason: None
        context = getattr(client, "socket_context", None)
        # WskSocket(..., SocketContext, Dispatch): what the client offers for callbacks.
        sock.set_dispatch(client if context is None else context, getattr(client, "dispatch", None))
        sock.tap = RecorderTap(recorder)
        sock.verifier.locate = code.locate
        self._stopped = False
        self._old_hook: Any = None
        self._threads_before: set[threading.Thread] = set()
        # Ends the run when the client's code does not return (see watchdog.py);
        # `deadline`: seconds after start when the run ends on its own.
        self.watchdog = Watchdog(code.owns, grace, request_stop=lambda reason: self.stop_run(reason))
        self._deadline = deadline

    # -- Receiver ---------------------------------------------------------------------

    def start(self) -> None:
        """Catch the client's own threads' exceptions, then its start hook."""
        self._threads_before = set(threading.enumerate())
        self._old_hook = threading.excepthook
        threading.excepthook = self._thread_fault
        self.watchdog.start(self._deadline)
        self.client.start(self.sock)

    def stop(self) -> None:
        """The stop hook (unless the client faulted), then WskCloseSocket if still open."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.fault is None:
                self.watchdog.hook("stop")
                try:
                    self.client.stop()
                except (Exception, ClientStuck) as exc:
                    if not self.on_fault(exc):
                        raise
            # The client is done with its IRPs now (after a fault: it held these).
            self.irps.report_leaks(self.sock.verifier)
            self.watchdog.hook("close")
            self._close()
        finally:
            self.irps.end()
            self.watchdog.stop()
            if self._old_hook is not None:
                threading.excepthook = self._old_hook

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

    def statistics(self) -> ClientStatistics:
        """Both styles' counters (a client may use either or both) and its report."""
        s = self.sock.statistics()
        return ClientStatistics(
            outstanding=s.outstanding,
            completions=s.completions,
            cancellations=s.cancellations,
            failures=s.failures,
            callbacks=s.callbacks,
            mean_list_length=s.mean_list_length,
            consumed=s.consumed,
            pended=s.pended,
            released=s.released,
            released_in_callback=s.released_in_callback,
            rejected=s.rejected,
            held=s.held,
            pool_in_use=s.pool_in_use,
            pool_high_water=s.pool_high_water,
            leaked=s.leaked,
            null_indications=s.null_indications,
            client=self.report(),
        )

    def report(self) -> dict[str, Any]:
        """The client's part of the summary: who, what it broke where, its fault."""
        verifier = self.sock.verifier
        sites = [
            {"rule": rule, "where": where, "count": n, "detail": verifier.details.get((rule, where), "")}
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
        counted a rule break (a leaked IRP is one) or the client leaked datagrams."""
        if self.sock.verifier.total or self.sock.counts.leaked:
            return Ending.CLIENT_VIOLATIONS
        return Ending.COMPLETE

    # -- faults -----------------------------------------------------------------------

    def on_fault(self, exc: BaseException) -> bool:
        """The runner's fault hook: True (and recorded) when `exc` came out of client code."""
        fault = describe_fault(self.code, exc)
        if fault is None:
            return False
        self._record(fault)
        return True

    def _record(self, fault: ClientFault) -> None:
        if self.fault is None:
            self.fault = fault
        else:
            self.fault.later += 1
        self.stop_run(CLIENT_FAULT)

    def _thread_fault(self, args: threading.ExceptHookArgs) -> None:
        exc = args.exc_value
        if exc is not None and args.exc_type is not SystemExit:
            name = args.thread.name if args.thread is not None else "?"
            fault = describe_fault(self.code, exc, thread=name)
            if fault is not None:
                self._record(fault)
                return
        if self._old_hook is not None:
            self._old_hook(args)


__all__ = ["ClientCode", "ClientFault", "ClientHost", "IrpTracking", "RecorderTap",
           "describe_fault"]
