"""What the receive loop is given and what it gives back: the provider, reporter and
sidecar it drives (protocols), the limits that end a run, and the run's result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol

from wskrecv.errors import Ending, ExitStatus
from wskrecv.stats.snapshot import Snapshot

# The stop reason of a run the application's own exception ended (`on_fault`).
CLIENT_FAULT = "client fault"

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

    @property
    def status(self) -> ExitStatus:
        return self.ending.exit_status
