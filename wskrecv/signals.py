"""Stop signals and the wake-up socket: how a signal or another thread ends or wakes a
loop that waits on descriptors (the receive loop, the sender).

SIGINT, SIGTERM and SIGHUP ask the loop to stop, so it ends cleanly (summary printed,
files flushed). A second one exits at once, with status 128 + the signal's number (130
for a second Ctrl-C, 143 for a second SIGTERM): the promise to a user (or a service
manager) whose first signal did not end a run that hangs (an output nobody reads, a
display that stalls). It is kept here, once, for every command that installs these
handlers.
"""

from __future__ import annotations

import errno
import math
import os
import select
import signal
import socket
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Callable, Optional

# The signals that end a run, and the stop reason each gives.
STOP_SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated",
                signal.SIGHUP: "hung up"}


class StopSignals:
    """SIGINT/SIGTERM/SIGHUP call `on_stop(reason)` (STOP_SIGNALS); any of them after an
    earlier one exits the process at once, with 128 + its number (130 for Ctrl-C)."""

    def __init__(self, on_stop: Callable[[str], None]) -> None:
        self.on_stop = on_stop
        self.received = 0
        self.signum: Optional[int] = None  # the first stop signal received

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received += 1
        if self.received > 1:
            os._exit(128 + signum)  # the second one: at once, as promised
        self.signum = signum
        self.on_stop(STOP_SIGNALS.get(signum, "terminated"))

    @contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """The handlers for the duration of the block (none off the main thread, where
        Python allows no signal handlers: tests drive loops from threads)."""
        old: dict[int, Any] = {}
        try:
            for signum in STOP_SIGNALS:
                old[signum] = signal.signal(signum, self._handle)
        except ValueError:
            pass
        try:
            yield self
        finally:
            for signum, handler in old.items():
                signal.signal(signum, handler)


def raise_interrupt(reason: str) -> None:
    """An `on_stop` for code that waits in blocking calls (the selftest): the first stop
    signal raises KeyboardInterrupt in the main thread, as Ctrl-C does by default, so
    SIGTERM and SIGHUP unwind the same `finally` blocks (StopSignals.signum says which)."""
    raise KeyboardInterrupt(reason)


def signal_of(exc: BaseException) -> int:
    """The stop signal a KeyboardInterrupt stands for: raise_interrupt and a runner that a
    signal stopped carry its reason ("terminated"); a bare one is Ctrl-C's (SIGINT)."""
    reason = exc.args[0] if exc.args else None
    for signum, name in STOP_SIGNALS.items():
        if name == reason:
            return int(signum)
    return int(signal.SIGINT)


# Set in a child's environment to the parent's process ID: the child asks the kernel to
# kill it when that parent ends (die_with_parent), even by SIGKILL.
DIE_WITH_PARENT_ENV = "WSKRECV_DIE_WITH_PARENT"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """Linux: the kernel sends this process `signum` when its parent (process `parent`)
    ends, however it ends, so no child is left running alone. (Strictly: when the parent's
    thread that started it ends, so start such children from the main thread.) A parent
    already gone before the request took effect ends this process at once."""
    import ctypes  # here: only children that ask pay for it

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the parent's own clean-up is all there is
    if os.getppid() != parent:
        os._exit(1)


def honour_die_with_parent(environ: MutableMapping[str, str]) -> None:
    """Apply DIE_WITH_PARENT_ENV if the parent set it, and take it out of `environ` so that
    this process's own children do not inherit a parent that is not theirs."""
    value = environ.pop(DIE_WITH_PARENT_ENV, None)
    if value is not None and value.isdigit():
        die_with_parent(int(value))


def child_pids() -> list[int]:
    """This process's children, from /proc (none where it is missing: not Linux)."""
    pids: list[int] = []
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                pids += [int(pid) for pid in f.read().split()]
    except OSError:
        pass
    return pids


def kill_children() -> None:
    """Kill and reap every child still running: after a stop signal unwound the code that
    held them. Each `finally` ends the children it knows, but a signal that lands inside
    `subprocess.Popen` (after the fork, before it returns) leaves a child nothing holds a
    handle to (the selftest's receivers, the benchmark's helpers)."""
    for pid in child_pids():
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass  # reaped meanwhile


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


_READ = select.POLLIN | select.POLLPRI
_WRITE = select.POLLOUT
_READY_READ = _READ | select.POLLHUP | select.POLLERR  # what select() calls readable
_READY_WRITE = _WRITE | select.POLLHUP | select.POLLERR


def wait_ready(
    read: Iterable[int], write: Iterable[int] = (), timeout: Optional[float] = None
) -> tuple[set[int], set[int]]:
    """Wait until a descriptor in `read` is readable or one in `write` writable, at most
    `timeout` seconds (None: no limit); the ready ones, as select() would report them.

    poll(), not select(): select() cannot take a descriptor of 1024 or more (an inherited
    socket, a process with many files open). A descriptor closed underneath is an
    OSError (EBADF), as with select(); a signal returns early with nothing ready.
    """
    masks: dict[int, int] = {}
    for fd in read:
        masks[fd] = masks.get(fd, 0) | _READ
    for fd in write:
        masks[fd] = masks.get(fd, 0) | _WRITE
    poller = select.poll()
    for fd, mask in masks.items():
        poller.register(fd, mask)
    ms = None if timeout is None else max(0, math.ceil(timeout * 1000))
    try:
        events = poller.poll(ms)
    except InterruptedError:
        return set(), set()
    readable: set[int] = set()
    writable: set[int] = set()
    for fd, ev in events:
        if ev & select.POLLNVAL:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        if ev & _READY_READ and masks[fd] & _READ:
            readable.add(fd)
        if ev & _READY_WRITE and masks[fd] & _WRITE:
            writable.add(fd)
    return readable, writable


__all__ = [
    "DIE_WITH_PARENT_ENV",
    "STOP_SIGNALS",
    "StopSignals",
    "Waker",
    "die_with_parent",
    "honour_die_with_parent",
    "kill_children",
    "raise_interrupt",
    "signal_of",
    "wait_ready",
]
