"""What the receive loop is given and what it gives back: the provider, receiver,
reporter and sidecar it drives (protocols: every hook the runner calls is declared here),
the limits that end a run, and the run's result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

from wskrecv.errors import Ending, ExitStatus
from wskrecv.stats.modes import ModeStatistics
from wskrecv.stats.snapshot import Snapshot

# How a receiver asks the runner to end the run: (the summary's reason, how the run
# ended). Safe from any thread.
StopRequest = Callable[[str, Ending], None]

# How often the socket's health is checked when interval reports are off (-i 0).
HEALTH_EVERY = 1.0


class Provider(Protocol):
    kernel_drops: int
    drops_at_last_read: int  # kernel_drops when the last datagram read was queued
    local_address: tuple
    inherited_fd: Optional[int]  # an inherited socket outlives the run: never drained
    drops_before_run: Optional[int]  # an inherited socket's drops before the run (not ours)

    def read(self, max_n: int) -> list: ...
    def drain(self, seconds: float) -> tuple[int, bool]:
        """Discard what is still queued, for at most `seconds`: (datagrams, all of them)."""
    def fileno(self) -> int: ...
    def close(self) -> None: ...


class Receiver(Protocol):
    """What the runner starts, drives through its socket and stops: a hosted client
    (wskrecv.hosting.host.ClientHost, for the built-in clients and `wskrecv run`'s). The
    runner calls these hooks and no others."""

    def attach(self, request_stop: StopRequest,
               thread_fault: Callable[[BaseException], None]) -> None:
        """Before the run: how the receiver ends it (its client faulted, on any thread, or
        must be stopped: `request_stop(reason, ending)`), and where an exception on a
        built-in client's own thread goes (`thread_fault`: the run ends with exit 1)."""

    def start(self) -> None:
        """Post receives / enable callbacks: begin receiving."""

    def stop(self) -> None:
        """Stop receiving and close the socket (cancelling what is outstanding); after a
        run that ended any way, also one that never started."""

    def statistics(self) -> ModeStatistics:
        """The style's own statistics for snapshots (a frozen, typed record)."""
        ...

    def on_fault(self, exc: BaseException) -> bool:
        """An exception out of `start` or a delivery (completion routines and callbacks run
        inside the socket's `deliver`): True when it is the client's own fault (recorded;
        the run ends Ending.CLIENT_FAULT with its summary), False when it is wskrecv's."""
        ...

    def stop_requested(self, reason: str) -> None:
        """The runner was asked to stop: a client stuck in its code must not hold it up."""

    def verdict(self) -> Ending:
        """How a run that otherwise ended well ended (a user's client that broke WSK rules:
        Ending.CLIENT_VIOLATIONS)."""
        ...


class Reporter(Protocol):
    """Renders a run: its start, interval snapshots, live frames, kept datagrams and the
    summary."""

    @property
    def frame_interval(self) -> Optional[float]:
        """Seconds between live frames (re-read after each frame), or None: no frames."""

    def start(self, info: dict[str, Any]) -> None: ...
    def interval(self, snap: Snapshot) -> None: ...
    def frame(self, snap: Snapshot) -> None:
        """A snapshot for a live display, between interval reports."""

    def datagram(self, record: dict[str, Any]) -> None:
        """One kept datagram (--dump): source, length, truncation, time, payload hex."""

    def note(self, record: dict[str, Any]) -> None:
        """Something the iperf3 server did (`event`, `test`, `client`, `message`...)."""

    def summary(
        self, snap: Snapshot, status: ExitStatus, reason: str, threshold: Optional[str] = None
    ) -> None:
        """The end of the run; `threshold` is why a --max-* threshold failed it, or None."""

    def close(self) -> None:
        """Give back what the reporter holds (the terminal), whatever happened. Idempotent."""


class Sidecar(Protocol):
    """Work the receive loop carries beside its socket (the iperf3 server's control
    connection): descriptors to wait on, a deadline, a look after every wait, and the
    datagrams it consumes itself before the WSK model sees them."""

    def fds(self) -> tuple[list[int], list[int]]:
        """Descriptors to wait on: (readable, writable)."""
        ...

    def next_deadline(self) -> Optional[float]: ...

    def take(self, got: list) -> list:
        """A batch just read, without the datagrams the sidecar consumed."""
        ...

    def service(self, readable: set[int], writable: set[int], drained: bool) -> Optional[str]:
        """After a wait. `drained`: the socket was empty and nothing is held uncounted.
        Returns why the run should end, or None."""
        ...

    def status(self) -> dict[str, Any]:
        """The sidecar's state for snapshots."""
        ...

    def close(self) -> None:
        """The run is ending (before its summary): let go of everything. Idempotent."""


@dataclass(frozen=True)
class Limits:
    """When a run ends. None means no limit."""

    count: Optional[int] = None
    duration: Optional[float] = None
    timeout: Optional[float] = None
    interval: float = 1.0  # 0: no interval reports (the socket's health is still checked)

    @property
    def tick(self) -> float:
        """Seconds between interval reports, or between health checks when they are off."""
        return self.interval if self.interval > 0 else HEALTH_EVERY


@dataclass(frozen=True)
class RunResult:
    ending: Ending
    reason: str
    snapshot: Snapshot
    threshold: Optional[str] = None  # why a --max-* threshold failed the run
    error: Optional[str] = None  # why the socket failed (after the summary)
    # A stop signal (Ctrl-C, SIGTERM) that came once the summary was out: whatever runs
    # after the run (the metrics linger) ends at once instead of waiting.
    signalled_after: bool = False
    signum: Optional[int] = None  # the stop signal that ended the run (signals.STOP_SIGNALS)

    @property
    def status(self) -> ExitStatus:
        return self.ending.exit_status
