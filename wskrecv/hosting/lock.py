"""The socket's lock when client code runs on several threads, and what ends a run whose
client thread holds it for ever.

The model takes its socket's lock around every call (WskRelease may come from any
thread), and runs completion routines and the receive callback with it held: on the
receive loop's thread, or on whichever client thread made the call that let the socket
hand datagrams over (a WskRelease, a re-enable). A client thread that blocks while it
holds the lock (a callback that never returns, a client that takes `socket.lock` and
keeps it) would leave the receive loop waiting for it, where Ctrl-C, SIGTERM and
--duration cannot reach.

`SocketLock` is a reentrant lock whose waits the watchdog (watchdog.py) can end. Waiting
for it is interruptible, like any lock acquisition on POSIX: the watchdog's alarm sees the
receive loop's thread inside `SocketLock.__enter__` or `acquire` while another thread holds
the lock, and once the run should have ended `grace` seconds ago it `abandon`s the lock and
raises there. From then on that thread goes through the lock without taking it, so the run
can end: the client is closed, the summary printed. The holder, frozen where it is stuck,
is named from its own stack (host.py). Nothing else changes: uncontended, it is an RLock.
"""

from __future__ import annotations

import re
import threading
from types import FrameType, TracebackType
from typing import Optional

_get_ident = threading.get_ident
_OWNER = re.compile(r"\bowner=(\d+)")


class SocketLock:
    """A reentrant lock the watchdog can stop a thread from waiting for (see above)."""

    __slots__ = ("_lock", "_bypass", "_skipped")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._bypass: Optional[int] = None  # the thread that no longer waits for it
        self._skipped = 0  # how deep that thread is in sections it entered without it

    def __enter__(self) -> SocketLock:
        if self._bypass is not None and _get_ident() == self._bypass:
            self._skipped += 1
            return self
        self._lock.acquire()  # the watchdog's ClientStuck may end this wait
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._skipped and _get_ident() == self._bypass:
            self._skipped -= 1
            return
        self._lock.release()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """As RLock.acquire (for client code that takes the socket's lock itself)."""
        if self._bypass is not None and _get_ident() == self._bypass:
            self._skipped += 1
            return True
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        """As RLock.release."""
        self.__exit__(None, None, None)

    def held_elsewhere(self) -> bool:
        """Whether another thread holds the lock now."""
        if self._lock.acquire(blocking=False):
            self._lock.release()
            return False
        return True

    def owner(self) -> Optional[int]:
        """The ident of the thread that holds the lock, or None (from RLock's repr, which
        says `owner=`: the lock keeps no other record of it)."""
        match = _OWNER.search(repr(self._lock))
        ident = int(match.group(1)) if match else 0
        return ident or None

    def waited_for_in(self, frame: Optional[FrameType]) -> bool:
        """Whether `frame` (a signal handler's: the interrupted thread's innermost Python
        frame) is waiting for this lock while another thread holds it."""
        return (
            frame is not None
            and frame.f_code in _WAIT_CODES
            and frame.f_locals.get("self") is self
            and self.held_elsewhere()
        )

    def abandon(self) -> None:
        """The calling thread stops waiting for the lock: from now on it enters without
        taking it (its holder is stuck for good, and the run must end)."""
        self._bypass = _get_ident()


_WAIT_CODES = (SocketLock.__enter__.__code__, SocketLock.acquire.__code__)

__all__ = ["SocketLock"]
