"""Stop signals and the wake-up socket: how a signal or another thread ends or wakes a
loop that waits on descriptors (the receive loop, the sender).

SIGINT, SIGTERM and SIGHUP ask the loop to stop, so it ends cleanly (summary printed,
files flushed). A second one exits at once, with status 128 + the signal's number (130
for a second Ctrl-C, 143 for a second SIGTERM): the promise to a user (or a service
manager) whose first signal did not end a run that hangs (an output nobody reads, a
display that stalls, a client's callback stuck in C code). It is kept here, once, for
every command that installs these handlers. Two refinements make it hold:

- The same signal again within REPEAT_WINDOW is the same request, not a second one: a
  signal to a process group reaches a process more than once (coreutils `timeout` sends
  it to the command and then to the group; systemd's KillMode=control-group signals
  every process of the service, and a --workers parent passes the stop on too).
- Python runs a signal's handler between two bytecodes of the main thread, its other
  handlers' included: a repeat that lands while the first delivery's handler runs is
  taken after that handler, not inside it (inside, it waited for ever on the lock its
  own thread held, and a --workers worker that got the group's SIGTERM twice never
  answered the stop: the parent killed it and the run failed).
- At exit, Python's finalization gives every signal it had a handler for its default
  action back, and a repeat landing then (the group's second delivery, milliseconds
  behind the first: a run that ends at once is already exiting) killed the process, its
  exit status the signal's instead of the run's. Within the window, an exiting process
  ignores the signal of its last request (`_ignore_repeats_at_exit`, at exit).
- Python runs signal handlers between bytecodes, so a main thread stuck in C code
  (`sum(range(10**12))` in a client's callback) never runs them. The C-level handler
  still writes each signal's number to the wake-up descriptor (signal.set_wakeup_fd): a
  thread reads it there and exits the process on the second request, from any state. A
  Python thread would need the GIL that such a main thread holds: the thread is C
  (wskrecv._sigexit, built with the core, applying the same rule), and a Python one only
  where it was not built.
"""

from __future__ import annotations

import atexit
import errno
import math
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Callable, Optional

# The signals that end a run, and the stop reason each gives.
STOP_SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated",
                signal.SIGHUP: "hung up"}
# Seconds within which the same signal again is the same request (a process group's).
REPEAT_WINDOW = 0.5
# The process's last stop request, (signal, time.monotonic()): its repeats are recognised
# by whichever handler is in place when they come (the run's, or the one after it).
_last_request: list[Any] = [None, float("-inf")]


def _ignore_repeats_at_exit() -> None:
    """At exit (atexit runs before the finalization that puts the default actions back):
    a stop request within the window leaves its signal ignored for the process's last
    moments, so that its repeat cannot kill a process that is only exiting."""
    if _repeat_possible():
        try:
            signal.signal(_last_request[0], signal.SIG_IGN)
        except (ValueError, OSError):
            pass  # off the main thread: Python's handler stays, and no finalization runs


atexit.register(_ignore_repeats_at_exit)


def _repeat_possible() -> bool:
    """Whether the last stop request is recent enough to be delivered again."""
    return _last_request[0] is not None and time.monotonic() - _last_request[1] < REPEAT_WINDOW


def _repeat(signum: int) -> bool:
    """Whether `signum` now is the last stop request delivered again."""
    return signum == _last_request[0] and _repeat_possible()


class StopSignals:
    """SIGINT/SIGTERM/SIGHUP call `on_stop(reason)` (STOP_SIGNALS); another request after
    the first (any of them, but the same signal again within REPEAT_WINDOW) exits the
    process at once, with 128 + its number (130 for Ctrl-C), whatever the main thread is
    doing. `received`: the requests so far; `signum`: the first one's signal."""

    def __init__(self, on_stop: Callable[[str], None]) -> None:
        self.on_stop = on_stop
        self.received = 0
        self.signum: Optional[int] = None  # the first stop signal received
        self._first_at = 0.0
        # Re-entrant: a handler may run inside the main thread's own critical section
        # (already(), the watcher's start); handlers themselves never nest (_handle).
        self._count_lock = threading.RLock()
        self._deferred: list[int] = []  # deliveries that came while _handle ran
        self._handling = False
        self._stopped = False  # on_stop was called
        self._watcher: Optional[threading.Thread] = None  # counts, from the wake-up fd
        self._c_watcher = False  # wskrecv._sigexit's thread exits on the second request

    def already(self, signum: int) -> None:
        """`signum` was a stop request before these handlers (it ended the run that
        came before): it delivered again within the window is still that request; any
        other signal is a second request, and exits at once."""
        with self._count_lock:
            same = _last_request[0] == signum
            self.signum, self._stopped = signum, True
            self._first_at = _last_request[1] if same else float("-inf")
            self.received += 1

    def _note(self, signum: int) -> None:
        """Keep `received`, `signum` and the process's last request up to date (the C
        watcher decides the exit by the same rule)."""
        with self._count_lock:
            now = time.monotonic()
            if self.signum is None and not _repeat(signum):
                self.signum, self._first_at = signum, now
                _last_request[:] = [signum, now]
                self.received += 1

    def _count(self, signum: int) -> bool:
        """One delivery of `signum`: whether it is a new request. A second request exits
        the process here and now."""
        with self._count_lock:
            now = time.monotonic()
            if self.signum is not None:
                if signum == self.signum and now - self._first_at < REPEAT_WINDOW:
                    return False  # the same request, delivered again
                os._exit(128 + signum)  # the second one: at once, as promised
            if _repeat(signum):
                return False  # the request that ended the run before: delivered again
            self.signum, self._first_at = signum, now
            _last_request[:] = [signum, now]
            self.received += 1
            return True

    def _handle(self, signum: int, _frame: Any) -> None:
        """The handler: each delivery taken in turn, a nested one after the one it
        interrupted (list append and pop are single bytecodes: nothing is lost between
        the last look and the flag's reset, see the module)."""
        self._deferred.append(signum)
        while self._deferred and not self._handling:
            self._handling = True
            try:
                while self._deferred:
                    self._take(self._deferred.pop(0))
            finally:
                self._handling = False

    def _take(self, signum: int) -> None:
        if self._c_watcher:
            self._note(signum)  # the C thread decides the exit
        elif self._watcher is None and not self._count(signum):
            return
        if not self._stopped:  # with a watcher, it counted the signal already
            self._stopped = True
            self.on_stop(STOP_SIGNALS.get(signum, "terminated"))

    def _watch(self, fd: int) -> None:
        """The watcher thread: every signal number the C handler wrote; 0 ends it."""
        while True:
            try:
                data = os.read(fd, 64)
            except InterruptedError:
                continue
            except OSError:
                return
            for signum in data:
                if signum == 0:
                    return
                if signum in STOP_SIGNALS:
                    self._count(signum)

    @contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """The handlers for the duration of the block (none off the main thread, where
        Python allows no signal handlers: tests drive loops from threads), and the
        watcher that keeps the second-signal promise while the main thread is in C."""
        old: dict[int, Any] = {}
        try:
            for signum in STOP_SIGNALS:
                old[signum] = signal.signal(signum, self._handle)
        except ValueError:
            pass
        pipe = self._start_watcher() if old else None
        try:
            yield self
        finally:
            for signum, handler in old.items():  # a repeat may be on its way: _RepeatFilter
                signal.signal(signum, _RepeatFilter.around(handler) if _repeat(signum) else handler)
            if pipe is not None:
                self._stop_watcher(*pipe)

    def _start_watcher(self) -> Optional[tuple[int, int, int]]:
        r, w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(w, False)  # set_wakeup_fd's own rule
        try:
            previous = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except (ValueError, OSError):
            os.close(r)
            os.close(w)
            return None
        try:
            from wskrecv import _sigexit  # type: ignore[attr-defined]
        except ImportError:
            self._watcher = threading.Thread(target=self._watch, args=(r,), daemon=True,
                                             name="wskrecv-signals")
            self._watcher.start()
        else:
            with self._count_lock:
                first, age = 0, 0.0
                if self.signum is not None:  # already(): a request the run before took
                    first, age = int(self.signum), max(0.0, time.monotonic() - self._first_at)
                elif _repeat_possible():
                    first, age = int(_last_request[0]), time.monotonic() - _last_request[1]
            _sigexit.watch(r, REPEAT_WINDOW, first, min(age, 1e9))
            self._c_watcher = True
        return r, w, previous

    def _stop_watcher(self, r: int, w: int, previous: int) -> None:
        signal.set_wakeup_fd(previous, warn_on_full_buffer=False)
        try:
            os.write(w, b"\0")
        except OSError:
            pass  # full of signal numbers: it reads them, and then ours
        if self._watcher is not None:
            self._watcher.join(1.0)
            self._watcher = None
            os.close(r)
        elif self._c_watcher:
            self._c_watcher = False  # it ends at our 0 byte: the read end is its to keep
        os.close(w)


class _RepeatFilter:
    """A handler in front of another: a stop signal that repeats the last request within
    REPEAT_WINDOW is ignored, where the handler behind would take it as new (the default
    action kills the process); any other goes to that handler. StopSignals leaves one in
    place of the handler it replaced when its block ends within the window, so that a
    process group's second delivery (timeout, systemd, a --workers parent) cannot kill a
    command that is writing its summary: send, analyze, selftest and the receivers alike.
    Outside the window it does what the handler behind it does."""

    def __init__(self, behind: Any) -> None:
        self.behind = behind

    @classmethod
    def around(cls, handler: Any) -> _RepeatFilter:
        return handler if isinstance(handler, cls) else cls(handler)

    def __call__(self, signum: int, frame: Any) -> None:
        if _repeat(signum):
            return
        if callable(self.behind):
            self.behind(signum, frame)
        elif self.behind in (signal.SIG_DFL, None):  # None: not set from Python
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)  # what it would have done


@contextmanager
def repeats_ignored() -> Iterator[None]:
    """For the block, between (and after) the StopSignals that come and go in it: repeats
    of the last request are ignored (_RepeatFilter). A block that ends within the window
    of a request leaves the filter in place (the repeat may yet come while the process
    exits). Off the main thread: nothing."""
    old: dict[int, Any] = {}
    try:
        for signum in STOP_SIGNALS:
            handler = signal.getsignal(signum)
            old[signum] = handler
            signal.signal(signum, _RepeatFilter.around(handler))
    except ValueError:
        pass
    try:
        yield
    finally:
        if not _repeat_possible():
            for signum, handler in old.items():
                if handler is not None:  # None: a handler set outside Python, kept
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
    "repeats_ignored",
    "signal_of",
    "wait_ready",
]
