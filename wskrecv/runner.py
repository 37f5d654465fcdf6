"""The receive loop: OS socket -> provider -> WSK model -> application -> statistics.

The runner owns time, signals and stop conditions. It asks the model how many datagrams
it can take (`demand`), has the provider read at most that many, and delivers them; when
nothing is queued it waits on the socket, a wake-up pipe (signals, releases from other
threads) and the next interval tick.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

from wskrecv.apps.base import Receiver
from wskrecv.errors import ExitStatus
from wskrecv.stats.recorder import DumpSink, Recorder
from wskrecv.stats.snapshot import Snapshot
from wskrecv.wsk import WskDatagramSocket

# Reads between two looks at the clock, signals and reports while datagrams keep coming
# (at most SPINS x batch datagrams: a few milliseconds at full rate).
SPINS = 32


class Provider(Protocol):
    kernel_drops: int
    local_address: tuple

    def read(self, max_n: int) -> list: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...


class Reporter(Protocol):
    """Renders snapshots. A live display also has `frame_interval` (seconds, or None) and
    `frame(snap)`: the runner hands it a snapshot that often (re-reading the interval
    after each frame), between interval reports."""

    def start(self, info: dict[str, Any]) -> None: ...
    def interval(self, snap: Snapshot) -> None: ...
    def summary(self, snap: Snapshot, status: ExitStatus, reason: str) -> None:
        """The end of the run. When a --max-* threshold failed it, the runner also passes
        `threshold=` (the one-line reason): reporters that judge runs accept it."""


@dataclass(frozen=True)
class Limits:
    """When a run ends. None means no limit."""

    count: Optional[int] = None
    duration: Optional[float] = None
    timeout: Optional[float] = None
    interval: float = 1.0


@dataclass(frozen=True)
class RunResult:
    status: ExitStatus
    reason: str
    snapshot: Snapshot
    threshold: Optional[str] = None  # why a --max-* threshold failed the run
    error: Optional[str] = None  # why the socket failed (exit 1, after the summary)


_HANGUP = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)


def _hung_up(fd: int) -> bool:
    """Whether the socket reports a hang-up or an error (poll, no waiting)."""
    p = select.poll()
    p.register(fd, select.POLLIN | getattr(select, "POLLRDHUP", 0))
    return any(events & _HANGUP for _, events in p.poll(0))


class Waker:
    """A socketpair the loop waits on: signals and other threads poke it to wake the loop."""

    def __init__(self) -> None:
        self.r, self.w = socket.socketpair()
        self.r.setblocking(False)
        self.w.setblocking(False)

    def wake(self) -> None:
        try:
            self.w.send(b"\0")
        except OSError:
            pass  # already full: the loop will wake anyway

    def drain(self) -> None:
        try:
            while self.r.recv(4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self.r.close()
        self.w.close()


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
    ) -> None:
        self.provider = provider
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
        # The outputs of kept datagrams (--dump, --pcap): the recorder queues them, the
        # loop hands them out, from this thread only.
        self.sinks = tuple(sinks)
        self.waker = Waker()
        # WskRelease and re-enabling may come from the application's worker thread and
        # let the socket take datagrams again: they wake the loop.
        sock.ready_callback = self.waker.wake
        self.stop_reason: Optional[str] = None
        self.error: Optional[str] = None  # the socket failed underneath: why
        self._signals = 0
        self._t0 = 0.0

    # -- signals ----------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """Ask the loop to end (safe from signal handlers and other threads)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.waker.wake()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signals += 1
        if self._signals > 1 and signum == signal.SIGINT:
            os._exit(ExitStatus.INTERRUPTED)  # second Ctrl-C: at once, as promised
        self.request_stop("interrupted" if signum == signal.SIGINT else "terminated")

    def _install_signals(self) -> dict[int, Any]:
        old: dict[int, Any] = {}
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                old[signum] = signal.signal(signum, self._on_signal)
        except ValueError:  # not the main thread (tests): no signal handling
            pass
        return old

    # -- the loop ---------------------------------------------------------------------

    def snapshot(self, advance: bool = True) -> Snapshot:
        # The model's counters under the model's lock, the statistics under the
        # recorder's: a worker thread may be calling into both (event --pend).
        with self.sock.lock:
            violations = dict(self.sock.verifier.counts)
            mode_stats = self.app.mode_stats()
        with self.recorder.lock:
            return self.recorder.snapshot(
                self.clock() - self._t0,
                self.provider.kernel_drops,
                violations,
                mode_stats,
                advance=advance,
            )

    def hand_out_datagrams(self) -> None:
        """Give the datagrams the recorder kept since the last call to the sinks."""
        sinks = self.sinks
        for rec in self.recorder.take_dumped():
            for sink in sinks:
                sink(rec)

    def run(self, start_info: dict[str, Any]) -> RunResult:
        old = self._install_signals()
        try:
            return self._run(start_info)
        finally:
            # Only now: until the summary is out (a live display may take seconds to draw
            # its last frame), a second Ctrl-C still exits at once.
            for signum, handler in old.items():
                signal.signal(signum, handler)

    def _run(self, start_info: dict[str, Any]) -> RunResult:
        try:
            self._t0 = self.clock()
            self.reporter.start(start_info)
            self.app.start()
            status = self._loop()
        finally:
            if not self.sock.closed:
                self.app.stop()
            self.waker.close()
        self.hand_out_datagrams()  # what stopping processed, too (retained lists)
        snap = self.snapshot(advance=False)
        reason = self.stop_reason or "stopped"
        breach = self.judge(snap) if self.judge is not None and status is ExitStatus.OK else None
        if breach:
            status = ExitStatus.THRESHOLD
        if breach:
            self.reporter.summary(snap, status, reason, threshold=breach)
        else:  # reporters that know of no thresholds keep working
            self.reporter.summary(snap, status, reason)
        return RunResult(status, reason, snap, breach, self.error)

    def _socket_failed(self, message: str) -> ExitStatus:
        """The OS socket broke under the receiver: fail it in the model (outstanding IRPs
        complete with a failure status, the event callback gets its NULL indication) and
        end the run with exit 1, the summary still printed."""
        self.error = message
        self.stop_reason = "socket failed"
        self.sock.fail()
        return ExitStatus.ERROR

    def _loop(self) -> ExitStatus:
        limits = self.limits
        count = limits.count
        t0 = self._t0
        end = t0 + limits.duration if limits.duration is not None else None
        deadline = t0 + limits.timeout if limits.timeout is not None else None
        next_tick = t0 + limits.interval
        frame_every: Optional[float] = getattr(self.reporter, "frame_interval", None)
        next_frame = t0 + frame_every if frame_every else None
        recorder = self.recorder
        sock = self.sock
        read = self.provider.read
        fd = self.provider.fileno()
        wake_fd = self.waker.r.fileno()
        readable = False  # the last wait said the socket was readable
        keeps = bool(self.sinks)
        while True:
            if keeps:
                self.hand_out_datagrams()
            if self.stop_reason is not None:
                return ExitStatus.OK
            if count is not None and recorder.received >= count:
                self.stop_reason = "count reached"
                return ExitStatus.OK
            now = self.clock()
            if now >= next_tick:
                self.reporter.interval(self.snapshot())
                next_tick += limits.interval * max(1, int((now - next_tick) / limits.interval) + 1)
                broken = self.health() if self.health is not None else None
                if broken:
                    return self._socket_failed(f"receive failed: {broken}")
            if next_frame is not None and now >= next_frame:
                self.reporter.frame(self.snapshot(advance=False))  # type: ignore[attr-defined]
                # Re-read: a display may space its frames out to bound its own cost.
                next_frame = now + self.reporter.frame_interval  # type: ignore[attr-defined]
            if end is not None and now >= end:
                self.stop_reason = "duration over"
                return ExitStatus.OK
            if deadline is not None and now >= deadline:
                self.stop_reason = "deadline passed"
                if recorder.received < (count if count is not None else 1):
                    return ExitStatus.DEADLINE
                return ExitStatus.OK
            if sock.closed:
                self.stop_reason = "socket closed"
                return ExitStatus.OK
            want = sock.demand()
            if count is not None:
                # Datagrams the socket holds (retained, kept) will be recorded too. Read
                # in_flight before received: the other order could undercount across the
                # worker thread and read past --count.
                in_flight = sock.in_flight
                want = min(want, count - in_flight - recorder.received)
            if want > 0:
                # Read and deliver back to back while datagrams come: the clock, signals
                # and reports are looked at every SPINS reads, not every read (with one
                # receive posted, a read is one datagram). --count stays exact: `want`
                # is recomputed before each read.
                delivered = False
                for _ in range(SPINS):
                    try:
                        got = read(min(want, self.batch))
                    except OSError as exc:
                        return self._socket_failed(f"receive failed: {exc.strerror or exc}")
                    if not got:
                        break
                    sock.deliver(got)
                    delivered = True
                    if self.stop_reason is not None:
                        break
                    want = sock.demand()
                    if count is not None:
                        want = min(want, count - sock.in_flight - recorder.received)
                    if want <= 0:
                        break
                if delivered:
                    readable = False  # the wait's news is used up
                    continue
                if readable and _hung_up(fd):
                    # Readable yet nothing to read: shut down underneath (a process sharing
                    # the socket called shutdown). It would stay "readable" for ever.
                    return self._socket_failed(
                        "receive failed: the socket was shut down underneath the receiver")
            wait_until = next_tick
            for t in (end, deadline, next_frame):
                if t is not None and t < wait_until:
                    wait_until = t
            timeout = max(0.0, wait_until - now)
            fds = [fd, wake_fd] if want > 0 and fd >= 0 else [wake_fd]
            try:
                ready, _, _ = select.select(fds, [], [], timeout)
            except InterruptedError:
                continue
            except (OSError, ValueError) as exc:  # the descriptor was closed underneath
                return self._socket_failed(f"receive failed: {getattr(exc, 'strerror', None) or exc}")
            readable = fd in ready
            if wake_fd in ready:
                self.waker.drain()
