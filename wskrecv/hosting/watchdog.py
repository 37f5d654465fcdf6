"""Ending a run whose client does not return: a callback, completion routine or hook
that blocks (or loops) for ever.

The client's code runs on the receive loop's thread, so a routine that never returns
keeps the loop from seeing Ctrl-C, SIGTERM or the end of --duration. The watchdog uses
SIGALRM, which interrupts the main thread wherever it is:

- when the run should end (a stop request, or the --duration / --timeout deadline
  passing while the loop is inside client code), it allows `grace` seconds;
- if the main thread is still inside client code then, it raises `ClientStuck` there.
  The exception unwinds the client's routine, the runner reports a client fault that
  names the routine and the line it was stuck at, and the summary is printed as usual;
- the stop hook gets its own `grace` the same way, and so does closing the socket;
- the main thread may be held up outside client code too: waiting for the socket's lock
  (lock.py) that a client thread holds and does not give back (a callback that blocks on
  that thread, a client that keeps the lock). That counts as stuck in client code: once
  `grace` is over the lock is abandoned and `ClientStuck` names the holder (`holder`).

Only the main thread can take signals: elsewhere (tests driving a runner from a thread)
the watchdog stays off.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import Any, Callable, Optional

from wskrecv.hosting.lock import SocketLock
from wskrecv.wsk.irql import waits_outside_callbacks

DEFAULT_GRACE = 2.0  # seconds


class ClientStuck(BaseException):
    """Raised inside client code that did not return in time. A BaseException, like
    KeyboardInterrupt, so that the client's own `except Exception` does not swallow it.
    `holder`: the ident of the client thread that holds the socket's lock, when the main
    thread was stuck waiting for it (the stuck code is that thread's, not this stack's)."""

    def __init__(self, message: str, holder: Optional[int] = None) -> None:
        super().__init__(message)
        self.holder = holder


class Watchdog:
    """Arms SIGALRM around a run's client code (see the module's docstring)."""

    def __init__(
        self,
        owns: Callable[[str], bool],
        grace: float = DEFAULT_GRACE,
        request_stop: Callable[[str], None] = lambda reason: None,
        lock: Optional[SocketLock] = None,
    ) -> None:
        self.owns = owns  # filename -> whether it is client code
        self.grace = grace
        self.request_stop = request_stop
        self.lock = lock  # the socket's, when client threads may hold it
        self.enabled = False
        self._old: Any = None
        self._phase = ""  # what the pending alarm is for: "deadline" or "grace"
        self._why = ""
        # Why the run is ending (a stop request, the deadline), once it is: a lock holder
        # found stuck while a hook runs is reported with it, not with the hook's name.
        self._ended_by = ""
        self._deadline: Optional[tuple[float, str]] = None  # (monotonic time, reason)

    def start(self, deadline: Optional[float], deadline_reason: str = "duration over") -> None:
        """Install the handler; `deadline` (seconds from now) is when the run should end
        on its own (--duration, --timeout), or None."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._old = signal.signal(signal.SIGALRM, self._on_alarm)
        self.enabled = True
        if deadline is not None:
            self._deadline = (time.monotonic() + deadline, deadline_reason)
            self._arm("deadline", deadline, deadline_reason)

    def stop_requested(self, reason: str) -> None:
        """The run was asked to end: the client has `grace` seconds to return."""
        self._ended_by = self._ended_by or reason
        if self.enabled and self._phase != "grace":
            self._arm("grace", self.grace, reason)

    def hook(self, name: str) -> None:
        """A hook is about to run after the loop ended: it has `grace` seconds."""
        if self.enabled:
            if not self._ended_by and self._deadline and time.monotonic() >= self._deadline[0]:
                self._ended_by = self._deadline[1]
            self._arm("grace", self.grace, f"{name} hook")

    def stop(self) -> None:
        """Disarm and restore the previous handler."""
        if not self.enabled:
            return
        self.enabled = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._old if self._old is not None else signal.SIG_DFL)

    def _arm(self, phase: str, seconds: float, why: str) -> None:
        self._phase = phase
        self._why = why
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))

    def _in_client(self, frame: Optional[FrameType]) -> bool:
        while frame is not None:
            if self.owns(frame.f_code.co_filename):
                return True
            frame = frame.f_back
        return False

    def _on_alarm(self, _signum: int, frame: Optional[FrameType]) -> None:
        phase, why = self._phase, self._why
        self._phase = ""
        lock = self.lock
        if lock is not None and lock.waited_for_in(frame):  # a client thread holds it
            if phase == "deadline":
                self._ended_by = self._ended_by or why
                self.request_stop(why)
                self._arm("grace", self.grace, why)
                return
            holder = lock.owner()
            lock.abandon()  # this thread stops waiting: the run can end
            raise ClientStuck(
                f"did not return within {self.grace:g} s, holding the socket lock "
                f"({self._ended_by or why})",
                holder=holder,
            )
        if not self._in_client(frame):
            if phase == "deadline":  # look again: the loop may yet enter client code
                self._arm("deadline", self.grace, why)
            return  # the loop is not held up: it ends the run itself
        if phase == "deadline":
            # The loop cannot look at the clock while client code runs: end it from here.
            self.request_stop(why)
            self._arm("grace", self.grace, why)
            return
        if waits_outside_callbacks(frame):
            why += ("; waiting in KeWaitForSingleObject on the thread that delivers "
                    "datagrams, which delivers none until the hook returns: wait for a "
                    "request on a thread of your own")
        raise ClientStuck(f"did not return within {self.grace:g} s ({why})")


__all__ = ["DEFAULT_GRACE", "ClientStuck", "Watchdog"]
