"""Stop signals and the wake-up socket: how a signal or another thread ends or wakes a
loop that waits on descriptors (the receive loop, the sender).

SIGINT and SIGTERM ask the loop to stop, so it ends cleanly (summary printed, files
flushed). A second Ctrl-C exits at once with status 130: the promise to a user whose
first Ctrl-C did not end a run that hangs (an output nobody reads, a display that
stalls). It is kept here, once, for every command that installs these handlers.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from wskrecv.errors import ExitStatus


class StopSignals:
    """SIGINT/SIGTERM call `on_stop("interrupted" | "terminated")`; a SIGINT after any
    earlier one of the two exits the process at once (130)."""

    def __init__(self, on_stop: Callable[[str], None]) -> None:
        self.on_stop = on_stop
        self.received = 0

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received += 1
        if self.received > 1 and signum == signal.SIGINT:
            os._exit(ExitStatus.INTERRUPTED)  # second Ctrl-C: at once, as promised
        self.on_stop("interrupted" if signum == signal.SIGINT else "terminated")

    @contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """The handlers for the duration of the block (none off the main thread, where
        Python allows no signal handlers: tests drive loops from threads)."""
        old: dict[int, Any] = {}
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                old[signum] = signal.signal(signum, self._handle)
        except ValueError:
            pass
        try:
            yield self
        finally:
            for signum, handler in old.items():
                signal.signal(signum, handler)


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


__all__ = ["StopSignals", "Waker"]
