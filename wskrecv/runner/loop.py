"""The receive loop: OS socket -> provider -> WSK model -> application -> statistics.

The runner owns time, signals and stop conditions. It asks the model how many datagrams
it can take (`demand`), has the provider read at most that many, and delivers them; when
nothing is queued it waits on the socket, a wake-up socket (signals, releases from other
threads) and the next interval tick. It says how the run ended (`Ending`), not which
exit status that is: errors.py keeps that table, and cli.py ends the process. The end of
a run (`_finish`: the summary) judges with finish.py's functions; the loop's faults travel
as faults.py says. The receiver is driven only through contracts.Receiver.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Callable, Optional

from wskrecv.errors import Ending
from wskrecv.runner.arrivals import Arrivals
from wskrecv.runner.contracts import Limits, Provider, Receiver, Reporter, RunResult, Sidecar
from wskrecv.runner.faults import (
    OUTPUT_FAULTS,
    Fault,
    SocketFailed,
    fault_message,
    hung_up,
    internal_error,
)
from wskrecv.runner.finish import at_exit, count_unread
from wskrecv.runner.finish import judge as judge_end
from wskrecv.runner.heap import start_up_frozen
from wskrecv.signals import StopSignals, Waker, wait_ready
from wskrecv.stats.recorder import DumpSink, Recorder
from wskrecv.stats.snapshot import Snapshot, utc, values
from wskrecv.stats.streams import TOP_STREAMS
from wskrecv.wsk import WskDatagramSocket
from wskrecv.wsk.verifier import WskrecvBug

# Reads between two looks at the clock, signals and reports while datagrams keep coming
# (at most SPINS x batch datagrams: a few milliseconds at full rate).
SPINS = 32


class Runner:
    """Drive one receiver until a limit, a signal or an error ends the run."""

    def __init__(
        self,
        provider: Provider,
        sock: WskDatagramSocket,
        app: Receiver,
        recorder: Recorder,
        reporter: Reporter,
        limits: Limits,
        batch: int = 64,
        clock: Callable[[], float] = time.monotonic,
        judge: Optional[Callable[[Snapshot], Optional[str]]] = None,
        health: Optional[Callable[[], Optional[str]]] = None,
        sinks: Sequence[DumpSink] = (),
        sidecar: Optional[Sidecar] = None,
        truncates_above: Optional[int] = None,
        per_stream: bool = False,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.provider = provider
        # The wall clock the run's start is stated in (a replay's: capture time).
        self.wall_ns = wall_ns
        # Interval snapshots carry every stream's row (--per-stream); else none: frames
        # carry the worst few, the summary every one.
        self.per_stream = per_stream
        # Carried beside the socket (--iperf3): waited on with it, serviced after waits.
        self.sidecar = sidecar
        self.sock = sock
        self.app = app
        self.recorder = recorder
        self.reporter = reporter
        self.limits = limits
        self.batch = batch
        self.clock = clock
        self.judge = judge  # the final snapshot -> why it fails a threshold, or None
        # Asked once per interval: why the socket can no longer receive, or None (the OS
        # says nothing when a bound address is removed).
        self.health = health
        # Arrival times, and the outputs of kept datagrams (--dump, --pcap).
        self.arrivals = Arrivals(sinks, truncates_above)
        # Asked before every read: why to stop now, or None (--workers: a --count shared
        # by the workers was reached).
        self.stop_when: Optional[Callable[[], Optional[str]]] = None
        self.waker = Waker()
        # WskRelease and re-enabling may come from the application's worker thread and
        # let the socket take datagrams again: they wake the loop.
        sock.ready_callback = self.waker.wake
        # The receiver ends the run through request_stop (its client's fault, on any
        # thread); a fault on a built-in client's own thread reaches the loop through
        # fault_on_thread.
        app.attach(self.request_stop, self.fault_on_thread)
        self.thread_fault: Optional[str] = None  # its one line, until the loop ends
        # Why the run stops (the summary's words) and how it ended, once asked.
        self.stop_reason: Optional[str] = None
        self.stop_ending = Ending.COMPLETE
        self.error: Optional[str] = None  # the socket failed underneath: why
        self._t0 = 0.0
        # The loop's schedule (clock() values; None: never), set when the run starts.
        self._next_tick = 0.0
        self._next_frame: Optional[float] = None
        self._end: Optional[float] = None
        self._deadline: Optional[float] = None
        self._readable = False  # the last wait said the socket was readable
        self._empty = False  # the last read found the socket empty
        # Fault injection (wskrecv.wsk.inject), when the socket's client has it: its
        # timers fall and its stall watch looks at every turn, on the same clock.
        self.faults = sock.faults

    def request_stop(self, reason: str, ending: Ending = Ending.COMPLETE) -> None:
        """Ask the loop to end (safe from signal handlers and other threads), for
        `reason` (the summary's words). An ending other than COMPLETE (a client fault)
        overrides any earlier request: it decides how the run ended."""
        if self.stop_reason is None or ending is not Ending.COMPLETE:
            self.stop_reason, self.stop_ending = reason, ending
        self.waker.wake()
        self.app.stop_requested(reason)

    def fault_on_thread(self, exc: BaseException) -> None:
        """An exception on another thread (the application's worker): the loop ends the
        run with exit 1 and the summary, after everything held is released."""
        if self.thread_fault is None:
            self.thread_fault = fault_message(exc, "worker thread")
        self.waker.wake()

    def snapshot(self, advance: bool = True, streams_limit: Optional[int] = 0) -> Snapshot:
        """The run's statistics now (see Recorder.snapshot: `advance` starts a new
        interval, `streams_limit` bounds the per-stream rows)."""
        # The model's counters under the model's lock, the statistics under the
        # recorder's: a worker thread may be calling into both (event --pend).
        with self.sock.lock:
            violations = dict(self.sock.verifier.counts)
            cautions = dict(self.sock.verifier.cautions)
            mode_stats = self.app.statistics()
        with self.recorder.lock:
            snap = self.recorder.snapshot(
                self.clock() - self._t0,
                self.provider.kernel_drops,
                violations,
                mode_stats,
                advance=advance,
                streams_limit=streams_limit,
                cautions=cautions,
            )
        if self.sidecar is not None:
            snap = replace(snap, iperf3=MappingProxyType(self.sidecar.status()))
        if self.provider.drops_before_run is not None:
            snap = replace(snap, kernel_drops_before_run=self.provider.drops_before_run)
        if getattr(self.provider, "ip_fields", False):  # --tos-ttl, --dump
            snap = replace(snap, tos=values(self.provider.tos_counts),
                           ttl=values(self.provider.ttl_counts))
        return snap

    # -- a run ------------------------------------------------------------------------

    def run(self, start_info: dict[str, Any]) -> RunResult:
        """Start, loop until something ends the run, stop, report the summary. Until the
        summary is out (a live display may take seconds to draw its last frame), a
        second Ctrl-C still exits at once."""
        signals = StopSignals(self.request_stop)
        with signals.installed(), start_up_frozen():
            try:
                self._t0 = self.clock()
                if self.faults is not None:
                    self.faults.ledger.t0_ns = self.faults.now_ns()
                self.arrivals.start_ns = self.wall_ns()
                self.reporter.start({**start_info, "start_time": utc(self.arrivals.start_ns)})
                try:
                    self.app.start()
                    ending = self._loop()
                except BaseException as exc:
                    if self.app.on_fault(exc):
                        ending = Ending.CLIENT_FAULT
                        self.stop_reason, self.stop_ending = ending.value, ending
                    elif isinstance(exc, BrokenPipeError):
                        ending = self._reader_left()
                    elif isinstance(exc, (Exception, WskrecvBug)):
                        # Not the client's: wskrecv's own bug. The run ends with its summary,
                        # the error line and the traceback (exit 1).
                        ending = self.failed(internal_error(exc))
                    else:
                        raise  # KeyboardInterrupt, SystemExit
            finally:
                self.app.stop()  # also after the application closed its socket itself
                self.waker.close()
                if self.sidecar is not None:
                    self.sidecar.close()
            return self._finish(ending, signals)

    def _finish(self, ending: Ending, signals: StopSignals) -> RunResult:
        """Everything after the loop (the application stopped, held lists released): the
        summary, and the result that says how the run ended. Runs with the stop signals
        still installed: until the summary is out, a second Ctrl-C exits at once."""
        if self.stop_ending is Ending.CLIENT_FAULT:  # also from a thread, or the stop hook
            ending = Ending.CLIENT_FAULT
        if self.faults is not None:
            self.faults.ledger.finish()  # every fault's outcome is known once stopped
        arrivals = self.arrivals
        try:
            arrivals.hand_out(self.recorder)  # what stopping processed, too (retained lists)
            arrivals.flush()  # before the summary: it reports a failure here too
        except BrokenPipeError:
            if self.error is None:
                ending = self._reader_left(ending)
        except OUTPUT_FAULTS as exc:
            if self.error is None:
                ending = self.failed(fault_message(exc, "main thread"))
        arrivals.forget_lengths()
        if self.thread_fault is not None and self.error is None:
            ending = self.failed(self.thread_fault)  # while stopping
        unread, complete = count_unread(self.provider, self.error)
        if unread is not None:
            # What the provider took in but never handed to the client (its backlog, or
            # kept lists, when the socket closed or stopped working) was not read either.
            with self.sock.lock:
                unread += self.sock.counts.discarded
        snap = at_exit(self.snapshot(advance=False, streams_limit=None), self.provider, arrivals,
                       unread, complete)
        if self.faults is not None:
            snap = replace(snap, faults=MappingProxyType(self.faults.summary()))
        ending, breach = judge_end(ending, snap, self.limits.count, self.judge, self.app.verdict)
        if ending is Ending.COMPLETE and getattr(self.provider, "problem", None):
            ending = Ending.CAPTURE_CUT  # a replayed capture not read to its end: exit 2
        reason = self.stop_reason or "stopped"
        at_summary = signals.received
        try:
            self.reporter.summary(snap, ending.exit_status, reason, threshold=breach)
        except OUTPUT_FAULTS:
            if self.error is None:
                raise  # the summary's own stream failed: that is the error
            # else the output that failed the run fails again: the error line says it
        return RunResult(ending, reason, snap, breach, self.error,
                         signalled_after=signals.received > at_summary,
                         signum=signals.signum if at_summary else None)

    def _loop(self) -> Ending:
        """Turn until something ends the run; a socket failure ends it too."""
        self._schedule()
        try:
            while True:
                ending = self._turn()
                if ending:
                    return ending
        except SocketFailed as exc:
            return self._socket_failed(str(exc))
        except Fault as exc:
            return self.failed(str(exc))
        except OUTPUT_FAULTS as exc:  # a sink or a reporter could not write
            return self.failed(fault_message(exc, "main thread"))

    def _turn(self) -> Optional[Ending]:
        """Hand out kept datagrams; look at stop requests, the clock and the socket; read
        and deliver while datagrams come, else wait."""
        if self.arrivals.sinks:
            self.arrivals.hand_out(self.recorder)
        if self.faults is not None:
            self._fault_turn()
        now = self.clock()
        ending = self._stopped() or self._on_time(now) or self._closed()
        if ending:
            return ending
        want = self._want()
        self._empty = False
        if want > 0:
            if self._read_and_deliver(want):
                self._readable = False  # the wait's news is used up
                return None
            if self._readable and hung_up(self.provider.fileno()):
                # Readable yet nothing to read: shut down underneath (a process sharing
                # the socket called shutdown). It would stay "readable" for ever.
                raise SocketFailed(
                    "receive failed: the socket was shut down underneath the receiver")
        self._wait(now, want)
        return None

    # -- the loop's steps -------------------------------------------------------------

    def _schedule(self) -> None:
        """When intervals, frames, --duration and --timeout fall, from the start."""
        limits, t0 = self.limits, self._t0
        self._end = t0 + limits.duration if limits.duration is not None else None
        self._deadline = t0 + limits.timeout if limits.timeout is not None else None
        self._next_tick = t0 + limits.tick
        frame_every = self.reporter.frame_interval
        self._next_frame = t0 + frame_every if frame_every else None

    def _stopped(self) -> Optional[Ending]:
        """A fault on another thread, a stop asked for (signal, another thread), or
        --count is reached."""
        if self.thread_fault is not None:
            raise Fault(self.thread_fault)
        if self.stop_reason is not None:
            return self.stop_ending
        if self.stop_when is not None:
            why = self.stop_when()
            if why:
                self.stop_reason = why
                return Ending.COMPLETE
        count = self.limits.count
        if count is not None and self.recorder.received >= count:
            self.stop_reason = "count reached"
            return Ending.COMPLETE
        return None

    def _on_time(self, now: float) -> Optional[Ending]:
        """What is due at `now`: the interval report and health check, a display frame,
        the end of --duration, the --timeout deadline."""
        limits = self.limits
        if now >= self._next_tick:
            if limits.interval > 0:
                self.reporter.interval(
                    self.snapshot(streams_limit=None if self.per_stream else 0))
            late = int((now - self._next_tick) / limits.tick) + 1
            self._next_tick += limits.tick * max(1, late)
            broken = self.health() if self.health is not None else None
            if broken:
                raise SocketFailed(f"receive failed: {broken}")
            if self.sidecar is not None:
                self._poll_sidecar()  # datagrams may keep the loop from waiting
        if self._next_frame is not None and now >= self._next_frame:
            self.reporter.frame(self.snapshot(advance=False, streams_limit=TOP_STREAMS))
            # Re-read: a display may space its frames out to bound its own cost.
            every = self.reporter.frame_interval
            self._next_frame = now + every if every else None
        if self._end is not None and now >= self._end:
            self.stop_reason = "duration over"
            return Ending.COMPLETE
        if self._deadline is not None and now >= self._deadline:
            self.stop_reason = "deadline passed"
            count = limits.count
            if self.recorder.received < (count if count is not None else 1):
                return Ending.DEADLINE_MISSED
            return Ending.COMPLETE
        return None

    def _closed(self) -> Optional[Ending]:
        """The application closed its socket (nothing more can arrive)."""
        if self.sock.closed:
            self.stop_reason = "socket closed"
            return Ending.COMPLETE
        return None

    def _want(self) -> int:
        """How many datagrams to read now: what the model can take, and no more than
        --count still needs. Every datagram delivered and not discarded or dropped is (or
        will be) counted: the ones the socket still holds (retained, kept) too. Only this
        thread delivers or discards, so no other thread moves the figure up under us."""
        want = self.sock.demand()
        count = self.limits.count
        if count is not None:
            c = self.sock.counts
            want = min(want, count - (c.received - c.discarded - c.dropped))
        return want

    def _read_and_deliver(self, want: int) -> bool:
        """Read and deliver back to back while datagrams come: the clock, signals and
        reports are looked at every SPINS reads, not every read (with one receive posted,
        a read is one datagram). --count stays exact: `want` is recomputed before each
        read. Whether anything was delivered."""
        read, deliver, batch = self.provider.read, self.sock.deliver, self.batch
        take = self.sidecar.take if self.sidecar is not None else None
        note = self.arrivals.note
        delivered = False
        for _ in range(SPINS):
            try:
                got = read(min(want, batch))
            except OSError as exc:
                raise SocketFailed(f"receive failed: {exc.strerror or exc}") from None
            if take is not None and got:
                got = take(got)
            if not got:
                self._empty = True
                break
            note(got)
            deliver(got)
            delivered = True
            if self.stop_reason is not None:
                break
            want = self._want()
            if want <= 0:
                break
        return delivered

    def _fault_turn(self) -> None:
        """Injected faults: the effects whose time came (a delay's end, buffers back), the
        client's ability to receive noted, and the end of a run the client cannot go on
        with (its socket failed, or it stalled)."""
        faults = self.faults
        assert faults is not None
        with self.sock.lock:
            faults.advance()
        faults.observe()
        why = faults.stop_reason(self._busy())
        if why and self.stop_reason is None:
            self.stop_reason = why

    def _busy(self) -> bool:
        """Whether the client has work of its own still to come that the loop runs (a
        replay's work items; a live client's threads are given --grace instead)."""
        return False

    def _fault_deadline(self) -> Optional[float]:
        """When injected faults want the loop to look again (its clock), or None."""
        faults = self.faults
        if faults is None:
            return None
        times = [t for t in (faults.next_due(), faults.stall_deadline()) if t is not None]
        return min(times) / 1e9 if times else None

    def _wait(self, now: float, want: int) -> None:
        """Wait for the socket (when the model wants datagrams), the wake-up socket, or
        whatever is due next."""
        sidecar = self.sidecar
        wait_until = self._next_tick
        for t in (self._end, self._deadline, self._next_frame, self._fault_deadline(),
                  sidecar.next_deadline() if sidecar is not None else None):
            if t is not None and t < wait_until:
                wait_until = t
        timeout = max(0.0, wait_until - now)
        fd = self.provider.fileno()
        wake_fd = self.waker.r.fileno()
        fds = [fd, wake_fd] if want > 0 and fd >= 0 else [wake_fd]
        wfds: list[int] = []
        if sidecar is not None:
            extra, wfds = sidecar.fds()
            fds += extra
        try:
            ready, wready = wait_ready(fds, wfds, timeout)
        except (OSError, ValueError) as exc:  # the descriptor was closed underneath
            reason = getattr(exc, "strerror", None) or exc
            raise SocketFailed(f"receive failed: {reason}") from None
        self._readable = fd in ready
        if wake_fd in ready:
            self.waker.drain()
        if sidecar is not None:
            # Drained: the last read found the socket empty, nothing came since, and the
            # application holds nothing uncounted.
            drained = self._empty and not self._readable and self.sock.in_flight == 0
            self._stop_for(sidecar.service(ready, wready, drained))

    def _poll_sidecar(self) -> None:
        """Look at the sidecar's descriptors without waiting."""
        assert self.sidecar is not None
        extra, wfds = self.sidecar.fds()
        try:
            ready, wready = wait_ready(extra, wfds, 0)
        except (OSError, ValueError):
            return
        self._stop_for(self.sidecar.service(ready, wready, False))

    def _stop_for(self, reason: Optional[str]) -> None:
        """The sidecar ended the run (--one-off): the next turn stops."""
        if reason and self.stop_reason is None:
            self.stop_reason = reason

    def failed(self, message: str) -> Ending:
        """A fault ended the run (an output, a thread): stop as for a signal (held lists
        are processed and released), exit 1 with the summary and one error line."""
        self.error = message
        self.stop_reason = "error"
        return Ending.FAILED

    def _reader_left(self, ending: Ending = Ending.COMPLETE) -> Ending:
        """The reader of an output went away (`| head -1`: a BrokenPipeError from a
        reporter or a sink): no fault of the run's. It ends as a stop does (held lists
        are processed and released), quietly: the summary where it can still go, and the
        exit status of how it ended otherwise (0 unless a deadline or threshold says)."""
        if self.stop_reason is None:
            self.stop_reason = "output closed"
        return ending

    def _socket_failed(self, message: str) -> Ending:
        """The OS socket broke under the receiver: fail it in the model (outstanding IRPs
        complete with a failure status, the event callback gets its NULL indication) and
        end the run, the summary still printed."""
        self.error = message
        self.stop_reason = "socket failed"
        self.sock.fail()
        return Ending.SOCKET_FAILED
