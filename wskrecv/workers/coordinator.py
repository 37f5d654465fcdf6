"""The parent of a `--workers N` run: one run made of N receive processes.

The parent reads nothing itself. It waits on the workers' pipes (their Partials), their
process sentinels (a worker that dies), a wake-up pipe (signals) and the clock; it merges
the latest Partial of each worker (stats.merge.Merger) for the interval reports, the live
dashboard and the metrics, and decides the run's end and status as one receiver would:

- --duration: every worker stops at the same time; --timeout: the parent stops them all
  at the deadline and exits 3 if the total falls short of --count (or of 1);
- --count: shared through a Budget (pool.py); the first worker that sees it reached ends
  its loop, and the parent stops the others (every datagram claimed is still recorded);
- Ctrl-C / SIGTERM: the parent stops the workers with SIGUSR1 (pool.PARENT_STOP: never
  a second request to a worker that the user's signal to the process group reached
  too); a second Ctrl-C exits 130 at once, and the workers, whose parent died, get
  SIGTERM from the kernel (PR_SET_PDEATHSIG);
- a worker that dies without its final report fails the run: the others are stopped,
  the summary shows what they received, and the run exits 1 naming the dead worker;
- a worker that does not answer the stop (stopped by SIGSTOP at once, anything else
  after GRACE) is killed, and the run says that it did not answer, not that SIGKILL
  (wskrecv's own) killed it; what its socket queue still holds is counted unread, from
  the parent's copy of the socket.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Sequence
from multiprocessing.connection import wait
from typing import Any, Callable, Optional

from wskrecv.errors import Ending, WskrecvError
from wskrecv.runner import Limits, RunResult
from wskrecv.runner.finish import against_thresholds, count_unread, deadline_judged
from wskrecv.signals import StopSignals, Waker
from wskrecv.stats.merge import Merger
from wskrecv.stats.snapshot import Snapshot, utc
from wskrecv.stats.streams import TOP_STREAMS
from wskrecv.workers.pool import PARENT_STOP, Worker

GRACE = 5.0  # seconds a worker gets, once stopped, for its final report before SIGKILL
STOPPED_WAIT = 0.5  # a worker stopped (SIGSTOP) this long after the stop cannot answer it


def _stopped(pid: int) -> bool:
    """Whether process `pid` is stopped (SIGSTOP, SIGTSTP: /proc state T). Not a tracing
    stop (t): a worker under strace passes through it at every system call."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except (OSError, IndexError):
        return False


def _death(exitcode: Optional[int]) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode} before its final report"


class Coordinator:
    """Runs the parent's loop over started workers; `run` returns one RunResult."""

    def __init__(
        self,
        workers: Sequence[Worker],
        reporter: Any,
        limits: Limits,
        mode: str,
        judge: Optional[Callable[[Snapshot], Optional[str]]] = None,
        on_update: Optional[Callable[[Merger], None]] = None,
        clock: Callable[[], float] = time.monotonic,
        per_stream: bool = False,
        before_summary: Optional[Callable[[], None]] = None,
    ) -> None:
        self.workers = list(workers)
        # Once every worker has ended, before the summary (the capture's join): an error
        # it raises fails the run, and the summary says so.
        self.before_summary = before_summary
        self.per_stream = per_stream  # interval reports carry every stream's row
        self.reporter = reporter
        self.limits = limits
        self.mode = mode
        self.judge = judge
        self.on_update = on_update  # told after every Partial (the metrics endpoint)
        self.clock = clock
        self.merger = Merger({w.index: w.pid for w in self.workers})
        self.waker = Waker()
        self.stop_reason: Optional[str] = None
        self.stop_ending = Ending.COMPLETE  # how the stop asked for ends the run
        self.error: Optional[str] = None
        self.ending: Optional[Ending] = None  # set when a worker fails or errs
        self._stopping_since: Optional[float] = None
        self._t0 = 0.0

    def request_stop(self, reason: str, ending: Ending = Ending.COMPLETE) -> None:
        """Ask the loop to stop the workers and end (safe from signal handlers), for
        `reason` (the summary's words), ending the run `ending` unless a worker's failure
        decides it."""
        if self.stop_reason is None:
            self.stop_reason, self.stop_ending = reason, ending
        self.waker.wake()

    # -- messages from the workers ----------------------------------------------------

    def _fail(self, w: Worker, why: str) -> None:
        w.failed = why
        self.merger.drop(w.index, why)
        if self.error is None:
            self.error = f"worker {w.index} (pid {w.pid}) {why}"
            self.ending = Ending.WORKER_FAILED
        self.request_stop("worker failed")

    def _receive(self, w: Worker) -> None:
        """Every message the worker has sent so far (EOF: it closed its end)."""
        try:
            while w.conn.poll():
                message = w.conn.recv()
                kind = message[0]
                if kind in ("state", "final"):
                    self.merger.update(message[1])
                    if self.on_update is not None:
                        self.on_update(self.merger)
                if kind == "final":
                    _, _, reason, error = message
                    w.final = (reason, error)
                    w.let_go_of_socket()  # it counted its own queue
                    if error:
                        # The worker's reason: "socket failed", or "error" (its capture
                        # part could not be written), ending the run as one process's.
                        failed = reason == "error"
                        if self.error is None:
                            self.error = f"worker {w.index}: {error}"
                            self.ending = Ending.FAILED if failed else Ending.SOCKET_FAILED
                        self.request_stop("error" if failed else "socket failed")
                    else:
                        # The first worker to end says why (count reached, duration over:
                        # a worker may start its clock before the parent's).
                        self.request_stop(reason)
                elif kind == "error":
                    self._fail(w, f"failed: {message[1]}")
        except (EOFError, OSError):
            w.eof = True  # it closed its end: nothing more will come

    def _reap(self, w: Worker) -> None:
        w.process.join(0)
        if w.process.exitcode is None:
            return
        w.exited = True
        self._receive(w)  # a final report may still be in the pipe
        if not w.done:
            if w.unanswered:
                self._fail(w, f"did not answer the stop ({w.unanswered}): wskrecv killed it")
            else:
                self._fail(w, _death(w.process.exitcode))

    # -- the loop ---------------------------------------------------------------------

    def snapshot(self, advance: bool, streams_limit: Optional[int] = None) -> Snapshot:
        elapsed = self.clock() - self._t0
        snap = self.merger.snapshot(elapsed, advance=advance, streams_limit=streams_limit)
        if snap is None:  # nothing reported yet
            snap = Snapshot(self.mode, elapsed, 0, 0, 0, 0, 0, interval_s=elapsed,
                            workers=self.merger.rows())
        return snap

    def _stop_workers(self, now: float) -> None:
        if self._stopping_since is None:
            self._stopping_since = now
            for w in self.workers:
                if not w.done:
                    w.signal(PARENT_STOP)  # not SIGTERM: see pool.PARENT_STOP
            return
        waited = now - self._stopping_since
        for w in self.workers:
            if w.done or w.exited or w.unanswered:
                continue
            if waited >= STOPPED_WAIT and _stopped(w.pid):
                w.unanswered = "it was stopped, by SIGSTOP or SIGTSTP"
            elif waited > GRACE:
                w.unanswered = f"no final report within {GRACE:g} s"
            if w.unanswered:
                w.signal(signal.SIGKILL)

    def run(self, start_info: dict[str, Any]) -> RunResult:
        """Start, loop until every worker has ended, report the one summary. A second
        Ctrl-C exits at once (StopSignals); the workers then end by PR_SET_PDEATHSIG."""
        signals = StopSignals(self.request_stop)
        with signals.installed():
            try:
                self._t0 = self.clock()
                self.reporter.start({**start_info, "start_time": utc(time.time_ns())})
                self._loop()
                for w in self.workers:
                    w.process.join()
                at_summary = signals.received
                result = self._finish()
            finally:
                for w in self.workers:
                    if not w.exited and w.process.exitcode is None:
                        w.signal(signal.SIGKILL)
                        w.process.join()
                self.waker.close()
        return dataclasses.replace(result, signalled_after=signals.received > at_summary,
                                   signum=signals.signum if at_summary else None)

    def _finish(self) -> RunResult:
        if self.before_summary is not None:
            try:
                self.before_summary()
            except WskrecvError as exc:
                if self.error is None:  # as a one-process run whose capture fails at the end
                    self.error, self.ending, self.stop_reason = str(exc), Ending.FAILED, "error"
        snap = self._unread_of_the_silent(self.snapshot(advance=False))
        reason = self.stop_reason or "stopped"
        ending = deadline_judged(self.ending or self.stop_ending, snap.received, self.limits.count)
        ending, breach = against_thresholds(ending, self.judge, snap)
        self.reporter.summary(snap, ending.exit_status, reason, threshold=breach)
        return RunResult(ending, reason, snap, breach, self.error)

    def _unread_of_the_silent(self, snap: Snapshot) -> Snapshot:
        """`snap` with what the queues of workers without a final report still hold
        (read and discarded from the parent's copies of their sockets, as a worker
        counts its own): a stopped worker's 6,000 datagrams were not 'unread 0'."""
        unread, complete = snap.unread_at_exit or 0, snap.unread_complete
        counted = False
        for w in self.workers:
            if w.sock is not None and w.final is None:
                n, whole = count_unread(w.sock, None)
                if n is not None:
                    unread, complete, counted = unread + n, complete and whole, True
            w.let_go_of_socket()
        if not counted:
            return snap
        return dataclasses.replace(snap, unread_at_exit=unread, unread_complete=complete)

    def _loop(self) -> None:
        limits = self.limits
        t0 = self._t0
        end = t0 + limits.duration if limits.duration is not None else None
        deadline = t0 + limits.timeout if limits.timeout is not None else None
        next_tick = t0 + limits.tick  # -i 0: no interval reports, the clock still ticks
        frame_every: Optional[float] = getattr(self.reporter, "frame_interval", None)
        next_frame = t0 + frame_every if frame_every else None
        while True:
            now = self.clock()
            if end is not None and now >= end:
                self.request_stop("duration over")
            if deadline is not None and now >= deadline:
                self.request_stop("deadline passed", Ending.DEADLINE_MISSED)
            if self.stop_reason is not None:
                self._stop_workers(now)
            if all(w.done for w in self.workers):
                return
            if now >= next_tick:
                if limits.interval > 0:
                    self.reporter.interval(self.snapshot(
                        advance=True, streams_limit=None if self.per_stream else 0))
                next_tick += limits.tick * max(1, int((now - next_tick) / limits.tick) + 1)
            if next_frame is not None and now >= next_frame:
                self.reporter.frame(self.snapshot(advance=False, streams_limit=TOP_STREAMS))
                next_frame = now + self.reporter.frame_interval
            wait_until = next_tick
            for t in (end, deadline, next_frame):
                if t is not None and t < wait_until:
                    wait_until = t
            if self._stopping_since is not None:  # look again for workers that do not answer
                wait_until = min(wait_until, max(now + 0.1, self._stopping_since + STOPPED_WAIT),
                                 self._stopping_since + GRACE + 0.1)
            objects: list[Any] = [self.waker.r]
            for w in self.workers:
                if not w.exited:
                    objects.append(w.process.sentinel)
                if not w.eof:
                    objects.append(w.conn)
            ready = wait(objects, max(0.0, wait_until - now))
            if self.waker.r in ready:
                self.waker.drain()
            for w in self.workers:
                if w.conn in ready:
                    self._receive(w)
                if w.process.sentinel in ready:
                    self._reap(w)


__all__ = ["Coordinator"]
