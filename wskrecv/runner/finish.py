"""The end of a run, once the loop has stopped: what is kept is handed out and flushed,
what the run left unread in the socket queue is counted, the run is judged (the
--timeout deadline, the --max-* thresholds, a client's verdict) and the summary is
reported, each step able to turn a good ending into a failed one."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Optional

from wskrecv.errors import Ending
from wskrecv.runner.arrivals import Arrivals
from wskrecv.runner.contracts import CLIENT_FAULT, Provider, RunResult
from wskrecv.runner.faults import OUTPUT_FAULTS, fault_message
from wskrecv.signals import StopSignals
from wskrecv.stats.snapshot import Snapshot

if TYPE_CHECKING:
    from wskrecv.runner.loop import Runner

# The longest the end of a run spends counting what it left unread in the socket queue
# (about 400,000 datagrams a second are read and discarded).
UNREAD_DRAIN_S = 1.0


def finish(runner: Runner, ending: Ending, signals: StopSignals) -> RunResult:
    """Everything after the loop (the application stopped, held lists released): the
    summary, and the result that says how the run ended. Runs with the stop signals
    still installed: until the summary is out, a second Ctrl-C exits at once."""
    if runner.stop_reason == CLIENT_FAULT:  # also from a thread, or the stop hook
        ending = Ending.CLIENT_FAULT
    arrivals = runner.arrivals
    try:
        arrivals.hand_out(runner.recorder)  # what stopping processed, too (retained lists)
        arrivals.flush()  # before the summary: it reports a failure here too
    except OUTPUT_FAULTS as exc:
        if runner.error is None:
            ending = runner.failed(fault_message(exc, "main thread"))
    arrivals.forget_lengths()
    if runner.thread_fault is not None and runner.error is None:
        ending = runner.failed(runner.thread_fault)  # while stopping
    unread, complete = count_unread(runner.provider, runner.error)
    snap = at_exit(runner.snapshot(advance=False, streams_limit=None), runner.provider, arrivals,
                   unread, complete)
    ending, breach = _judge(runner, ending, snap)
    reason = runner.stop_reason or "stopped"
    at_summary = signals.received
    try:
        runner.reporter.summary(snap, ending.exit_status, reason, threshold=breach)
    except OUTPUT_FAULTS:
        if runner.error is None:
            raise  # the summary's own stream failed: that is the error
        # else the output that failed the run fails again: the error line says it
    return RunResult(ending, reason, snap, breach, runner.error,
                     signalled_after=signals.received > at_summary)


def _judge(runner: Runner, ending: Ending, snap: Snapshot) -> tuple[Ending, Optional[str]]:
    """The ending the summary says, and why a --max-* threshold failed the run (or None)."""
    if ending is Ending.DEADLINE_MISSED and snap.received >= (runner.limits.count or 1):
        # Judged on what was received, lists still held at the deadline included
        # (stopping processed them): all of it arrived in time.
        ending = Ending.COMPLETE
    ending, breach = against_thresholds(ending, runner.judge, snap)
    verdict = getattr(runner.app, "verdict", None)  # ClientHost: rule breaks fail a run
    if ending is Ending.COMPLETE and verdict is not None:
        ending = verdict()
    return ending, breach


def against_thresholds(ending: Ending, judge: Optional[Callable[[Snapshot], Optional[str]]],
                       snap: Snapshot) -> tuple[Ending, Optional[str]]:
    """A run that ended well, judged on its final snapshot: (its ending, THRESHOLD_EXCEEDED
    when it is above a --max-* threshold; and why, or None). Shared with --workers."""
    if ending is not Ending.COMPLETE or judge is None:
        return ending, None
    breach = judge(snap)
    return (Ending.THRESHOLD_EXCEEDED if breach else ending), breach


def count_unread(provider: Provider, error: Optional[str]) -> tuple[Optional[int], bool]:
    """Drain the socket queue without delivering anything to the model, for at most
    UNREAD_DRAIN_S: what the run left unread. Not an inherited socket (it outlives the
    run: what waits there is the next run's), nor a failed one (`error`)."""
    if error is not None or provider.inherited_fd is not None:
        return None, True
    try:
        return provider.drain(UNREAD_DRAIN_S)
    except OSError:
        return None, True


def at_exit(snap: Snapshot, provider: Provider, arrivals: Arrivals,
            unread: Optional[int], complete: bool) -> Snapshot:
    """The summary's snapshot: what was left unread, the kernel's drops after the last
    read (its drop count is read after the drain), and when datagrams came."""
    tail = max(0, snap.kernel_drops - provider.drops_at_last_read)
    return replace(snap, unread_at_exit=unread, unread_complete=complete,
                   drops_after_last_read=tail, start_ns=arrivals.start_ns,
                   first_ns=arrivals.first_ns, last_ns=arrivals.last_ns)
