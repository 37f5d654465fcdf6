"""The receive loop over a capture (`--replay`): the same loop, on the capture's clock.

Nothing waits: where the live loop would wait for the socket, the replay's clock moves to
what comes next (the next datagram the client can take, an interval, a delayed
completion, a work item), so a run takes as long as the client takes to process the
capture, and everything that depends on time (intervals, holds, injected delays, stalls)
happens at the same capture time in every replay. With the same file, client, options and
seed, a replay's summary is the same, byte for byte (tests/cli/test_replay.py).

A client that runs threads of its own (a `run` client may) is not timed by this clock:
before the replay ends, its threads get --grace of real time to act.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional, Protocol

from wskrecv.runner.loop import Runner
from wskrecv.signals import wait_ready

NS = 1_000_000_000
MAX_EMPTY_INTERVALS = 100  # a longer silence in the capture is reported as one interval


class VirtualClock:
    """A replay's clock: capture time in ns since the epoch, moved by the replay only."""

    def __init__(self, ns: int = 0) -> None:
        self.ns = ns

    def now_ns(self) -> int:
        return self.ns

    def seconds(self) -> float:
        return self.ns / NS

    def advance_to(self, ns: int) -> None:
        """Move to `ns` (never back)."""
        if ns > self.ns:
            self.ns = ns


class WorkItems(Protocol):
    """A built-in client's work queue on the replay's clock (builtin.worker's
    VirtualWorkQueue)."""

    def next_due(self) -> Optional[int]: ...
    def run_due(self) -> bool: ...


class ReplayRunner(Runner):
    """A Runner whose waits move its virtual clock (see the module docstring). `work` is
    the built-in client's work queue, run on the same clock; `grace` the real seconds a
    client's own threads get before the replay ends."""

    def __init__(self, *args: Any, clock: VirtualClock, work: Optional[WorkItems] = None,
                 grace: float = 2.0, **kwargs: Any) -> None:
        super().__init__(*args, clock=clock.seconds, wall_ns=clock.now_ns, **kwargs)
        self.virtual = clock
        self.work = work
        self.grace = grace
        self._silent_ticks = 0  # intervals in a row with nothing read
        self._read_at_tick = -1
        self._threads: Optional[set[threading.Thread]] = None
        self._waited = 0.0  # real seconds spent waiting for the client's threads
        provider: Any = self.provider
        provider.advance = clock.advance_to
        provider.horizon = self._horizon_ns

    def run(self, start_info: dict[str, Any]) -> Any:
        self._threads = set(threading.enumerate())  # threads from now on are the client's
        return super().run(start_info)

    def _turn(self) -> Any:
        if self.work is not None:
            self.work.run_due()
        return super()._turn()

    def _busy(self) -> bool:
        """A work item to come, or a client thread that may still act: a stall is judged
        when the replay ends, not before."""
        return (self.work is not None and self.work.next_due() is not None) or \
            bool(self._client_threads())

    def _client_threads(self) -> list[threading.Thread]:
        """The client's own threads still running (started since the run began)."""
        before = self._threads
        if before is None:
            return []
        return [t for t in threading.enumerate() if t not in before and t.is_alive()]

    def _timers_ns(self) -> list[int]:
        """When a work item or an injected fault's effect falls due, and when a stall
        would be judged (ns; a past stall deadline is no event)."""
        times = []
        if self.work is not None:
            due = self.work.next_due()
            if due is not None:
                times.append(due)
        faults = self.faults
        if faults is not None:
            due = faults.next_due()
            if due is not None:
                times.append(due)
            stall = faults.stall_deadline()
            if stall is not None and stall > self.virtual.ns:
                times.append(stall)
        return times

    def _schedule_ns(self) -> list[int]:
        """The loop's own times to come: the next interval, the end of --duration, the
        --timeout deadline (ns)."""
        return [int(round(t * NS)) for t in (self._next_tick, self._end, self._deadline)
                if t is not None]

    def _horizon_ns(self) -> Optional[int]:
        """Reading stops before this capture time: what falls due then comes first."""
        times = self._timers_ns() + self._schedule_ns()
        return min(times) if times else None

    def _wait(self, now: float, want: int) -> None:
        """Move the clock to what comes next, instead of waiting; when nothing can come
        any more, end the replay."""
        provider: Any = self.provider
        nxt = provider.peek_ns() if want > 0 else None
        events = self._timers_ns() + ([nxt] if nxt is not None else [])
        if not events:
            if self._client_threads_may_act():
                return
            self.stop_reason = self.stop_reason or (
                provider.end_reason() if provider.exhausted
                else "the client takes no more datagrams")
            return
        soonest = min(events)
        if provider.read_count != self._read_at_tick:  # something was read since
            self._read_at_tick = provider.read_count
            self._silent_ticks = 0
        tick = int(round(self._next_tick * NS))
        # Every interval is reported, but a long silence in the capture is reported as one
        # (as `wskrecv analyze` does): after MAX_EMPTY_INTERVALS the clock jumps.
        if tick <= soonest and self._silent_ticks < MAX_EMPTY_INTERVALS:
            self._silent_ticks += 1
            soonest = tick
        for limit in (self._end, self._deadline):
            if limit is not None:
                soonest = min(soonest, int(round(limit * NS)))
        self.virtual.advance_to(soonest)

    def _client_threads_may_act(self) -> bool:
        """A client thread of its own still runs: wait (real time) for it to do something
        (a WskRelease, a repost: they wake the loop). False once there is none, or it did
        nothing for --grace seconds."""
        if not self._client_threads() or self._waited >= self.grace:
            return False
        start = time.monotonic()
        ready, _ = wait_ready([self.waker.r.fileno()], [], min(0.05, self.grace - self._waited))
        if self.waker.r.fileno() in ready:
            self.waker.drain()
            self._waited = 0.0  # it acted: a new --grace for the next pause
        else:
            self._waited += time.monotonic() - start
        return True


__all__ = ["MAX_EMPTY_INTERVALS", "ReplayRunner", "VirtualClock"]
