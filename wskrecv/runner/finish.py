"""Judging the end of a run, once the loop has stopped (the Runner's `_finish` and the
--workers coordinator use these): what the run left unread in the socket queue, the
--timeout deadline, the --max-* thresholds and a client's verdict, each able to turn a
good ending into a failed one. Nothing here knows the Runner."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Optional

from wskrecv.errors import Ending
from wskrecv.runner.arrivals import Arrivals
from wskrecv.runner.contracts import Provider
from wskrecv.stats.snapshot import Snapshot

# The longest the end of a run spends counting what it left unread in the socket queue
# (about 400,000 datagrams a second are read and discarded).
UNREAD_DRAIN_S = 1.0


def judge(ending: Ending, snap: Snapshot, count: Optional[int],
          thresholds: Optional[Callable[[Snapshot], Optional[str]]],
          verdict: Callable[[], Ending]) -> tuple[Ending, Optional[str]]:
    """The ending the summary says, and why a --max-* threshold failed the run (or None):
    the --timeout deadline judged on what was received (`count`: --count), then the
    thresholds, then the receiver's verdict on a run that ended well."""
    ending = deadline_judged(ending, snap.received, count)
    ending, breach = against_thresholds(ending, thresholds, snap)
    if ending is Ending.COMPLETE:
        ending = verdict()  # ClientHost: a user's client that broke rules fails the run
    return ending, breach


def deadline_judged(ending: Ending, received: int, count: Optional[int]) -> Ending:
    """A run the --timeout deadline stopped missed it only when fewer than --count (or
    than 1) datagrams arrived, judged on what was received at the end: lists still held at
    the deadline included (stopping processed them). Shared with --workers."""
    if ending is Ending.DEADLINE_MISSED and received >= (count if count is not None else 1):
        return Ending.COMPLETE
    return ending


# Endings a breached threshold turns into THRESHOLD_EXCEEDED (exit 4). A --timeout that
# passed before --count datagrams came is one: with loss, --count never comes, so the CI
# recipe `-c N --timeout T --max-loss P` could never give 4 (it gave 3 at 78% lost).
# The others are failures of their own, whose status stands; the breach is still said.
_JUDGED = (Ending.COMPLETE, Ending.DEADLINE_MISSED)


def against_thresholds(ending: Ending, judge: Optional[Callable[[Snapshot], Optional[str]]],
                       snap: Snapshot) -> tuple[Ending, Optional[str]]:
    """Every run, judged on its final snapshot: (its ending, THRESHOLD_EXCEEDED when it is
    above a --max-* threshold and ended well or at its --timeout; and why, or None, on
    every ending). Shared with --workers."""
    if judge is None:
        return ending, None
    breach = judge(snap)
    if breach and ending in _JUDGED:
        ending = Ending.THRESHOLD_EXCEEDED
    return ending, breach


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
