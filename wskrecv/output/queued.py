"""Output that cannot hold a run up: each stream a run writes has a thread that writes it.

`wskrecv listen --json -t 3 | sleep 15`: nobody reads the pipe. Once it was full, the
reporter's write blocked the receive loop: -t and the first Ctrl-C waited for a reader,
and when the reader left the run ended with no summary. `--pcap - | sleep 15` and a
capture FIFO whose reader stops reading did the same.

A `QueuedOutput` stands in for such a stream. `write` hands the bytes to the stream's own
thread and returns; the thread writes them, in order, with blocking writes straight to
the descriptor (no Python buffer or lock is held while it blocks, so nothing else can
deadlock on it). The backlog is bounded (LIMIT bytes): past it, `write` waits for the
thread as a blocking write would, but only until `give_up()` says the run is to end (a
deadline passed, a stop signal came): deadlines and signals win over blocked output. At
the end, `drain(FINAL_WAIT)` gives the reader a few seconds for what is left; a stream
that still takes nothing is `stalled`, and its caller says so (the summary then goes to
standard error). A write that fails in the thread (EPIPE, ENOSPC) comes back to the
caller as its error on the next `write` or `flush`.
"""

from __future__ import annotations

import os
import select
import stat
import threading
from collections import deque
from typing import Any, Callable, Optional, Union

LIMIT = 16 << 20  # bytes held for a stream that does not take them
FINAL_WAIT = 5.0  # seconds a reader has, at the end of a run, to take what is left
_POLL = 0.05  # seconds between looks at give_up() while the backlog is full
PIPE_BUF = select.PIPE_BUF  # a write this long into a pipe that polls writable never blocks


def _never() -> bool:
    return False


class QueuedOutput:
    """A stream over descriptor `fd` whose writes never block for long: see the module.
    `failure` turns an OSError of a write into what the caller raises (BrokenPipeError
    should stay itself: a reader that went away ends a run quietly). Anything else is
    the `stream`'s (encoding, isatty, fileno...)."""

    def __init__(
        self,
        fd: int,
        stream: Any = None,
        failure: Callable[[OSError], BaseException] = lambda exc: exc,
        name: str = "output",
    ) -> None:
        self.fd = fd
        self._stream = stream
        self._failure = failure
        self.name = name
        self.encoding = getattr(stream, "encoding", None) or "utf-8"
        self._errors = getattr(stream, "errors", None) or "strict"
        self.give_up: Callable[[], bool] = _never
        self._items: deque[bytes] = deque()
        self._held = 0  # bytes queued or being written
        self._cond = threading.Condition()
        self._error: Optional[BaseException] = None
        self._closed = False
        self._abandoned = False  # a stop signal: drain no longer waits
        self._thread = threading.Thread(target=self._run, name=f"wskrecv-{name}", daemon=True)
        self._thread.start()

    # -- the caller's side --------------------------------------------------------------

    def write(self, data: Union[str, bytes, bytearray, memoryview]) -> int:
        raw = data.encode(self.encoding, self._errors) if isinstance(data, str) else bytes(data)
        with self._cond:
            self._raise()
            if not self._held:
                raw = self._now(raw)  # nothing queued: what the reader takes now, at once
                if not raw:
                    return len(data)
            while self._held + len(raw) > LIMIT and self._held and not self.give_up():
                self._cond.wait(_POLL)
                self._raise()
            self._items.append(raw)
            self._held += len(raw)
            self._cond.notify_all()
        return len(data)

    def _now(self, raw: bytes) -> bytes:
        """Write what fits without blocking, here and now, as a plain write would (so a
        reader that keeps up sees no thread in between, and a main thread that then
        holds the GIL in C code has written it already): PIPE_BUF bytes at a time while
        poll() says the descriptor takes more. What is left, for the thread."""
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        view = memoryview(raw)
        try:
            while view and poller.poll(0):
                view = view[os.write(self.fd, view[:PIPE_BUF]):]
        except OSError as exc:
            self._error = self._failure(exc)
            raise self._error from None
        return bytes(view)

    def flush(self) -> None:
        """Nothing to push (the thread writes at once); a write that failed is raised."""
        with self._cond:
            self._raise()

    @property
    def buffer(self) -> QueuedOutput:
        """Bytes go through the same queue (`--pcap -`)."""
        return self

    def drain(self, timeout: float = FINAL_WAIT) -> bool:
        """Wait up to `timeout` seconds for everything to be written (or to fail); whether
        it was. The caller's errors stay for its next write or flush."""
        with self._cond:
            self._cond.wait_for(lambda: not self._held or self._error is not None
                                or self._abandoned, timeout)
            return not self._held or self._error is not None

    def abandon(self) -> None:
        """Stop waiting in `drain` (a stop signal came): what is left stays unwritten."""
        with self._cond:
            self._abandoned = True
            self._cond.notify_all()

    @property
    def error(self) -> Optional[BaseException]:
        """What a write raised in the thread (it is raised to the caller too), or None."""
        return self._error

    @property
    def stalled(self) -> bool:
        """Bytes are still waiting, and no write failed: nobody reads the other end."""
        with self._cond:
            return bool(self._held) and self._error is None

    def close(self) -> None:
        """Stop the thread once it is idle (a stalled one is left, a daemon, blocked in
        its write). Does not close the descriptor."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    # -- the thread ---------------------------------------------------------------------

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._items or self._closed)
                if not self._items:
                    return
                raw = self._items.popleft()
            try:
                view = memoryview(raw)
                while view:
                    view = view[os.write(self.fd, view):]
            except OSError as exc:
                with self._cond:
                    self._error = self._failure(exc)
                    self._items.clear()
                    self._held = 0
                    self._cond.notify_all()
                return
            with self._cond:
                self._held -= len(raw)
                self._cond.notify_all()




def can_stall(stream: Any) -> Optional[int]:
    """The descriptor under `stream` when a write to it can block for as long as a reader
    pleases (a pipe, a FIFO, a socket, a terminal stopped with Ctrl-S), else None: a
    regular file or a device never keeps a write waiting (a full disk fails it)."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return None  # no descriptor (tests' StringIO): written as before
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd):
        return fd
    return None


class Patience:
    """The standard streams of one run, each queued when it can stall (see the module):
    `env` is the Environment the run writes through. `give_up` is asked while a backlog
    is full; `finish()` drains them at the end."""

    def __init__(self, env: Any) -> None:
        from dataclasses import replace

        self.queued: dict[str, QueuedOutput] = {}
        streams = {}
        for name, stream in (("stdout", env.stdout), ("stderr", env.stderr)):
            fd = can_stall(stream)
            if fd is None:
                continue
            stream.flush()  # what is buffered goes first
            failure = getattr(stream, "failure", lambda exc: exc)
            queued = QueuedOutput(fd, stream, failure, name)
            self.queued[name] = queued
            streams[name] = queued
        self.env = replace(env, **streams) if streams else env

    def give_up_when(self, give_up: Callable[[], bool]) -> None:
        for q in self.queued.values():
            q.give_up = give_up

    def finish(self, timeout: float = FINAL_WAIT) -> list[str]:
        """Give each stream's reader up to `timeout` seconds (in all) for what is left; the
        names of those that took nothing ("stdout", "stderr")."""
        import time

        end = time.monotonic() + timeout
        stalled = []
        for name, q in self.queued.items():
            if not q.drain(max(0.0, end - time.monotonic())) and q.stalled:
                stalled.append(name)
            q.close()
        return stalled

    def end(self, env: Any, summary: Optional[str] = None, signum: Optional[int] = None) -> None:
        """After the run: drain (see `finish`), with the stop signals' promise kept: a stop
        signal ends the wait (taking what is left as stalled), and one after the run's own
        (`signum`: the signal that ended it) exits at once. A standard output that took
        nothing is an OutputFailed, the `summary` (when it went there) written on standard
        error first; a standard error that took nothing is pointed at /dev/null first
        (nothing more could be said there: the exit status says it)."""
        from wskrecv.errors import OutputFailed
        from wskrecv.signals import StopSignals

        if not self.queued:
            return
        def abandon(_reason: str) -> None:
            for q in self.queued.values():
                q.abandon()

        stops = StopSignals(abandon)
        if signum is not None:
            stops.already(signum)
        with stops.installed():
            stalled = self.finish()
        for q in self.queued.values():
            if isinstance(q.error, OutputFailed):  # the last write failed: nobody saw it
                raise q.error
        if not stalled:
            return

        if "stderr" in stalled:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.queued["stderr"].fd)
            os.close(devnull)
            raise OutputFailed(f"cannot write standard error: it took nothing for "
                               f"{FINAL_WAIT:g} s")
        if summary:
            env.stderr.write(summary + "\n")
            env.stderr.flush()
        raise OutputFailed(f"cannot write standard output: it took nothing for {FINAL_WAIT:g} s "
                           "(nobody reads it)" + ("; the summary is above" if summary else ""))


__all__ = ["FINAL_WAIT", "LIMIT", "Patience", "QueuedOutput", "can_stall"]
