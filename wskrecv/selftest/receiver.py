"""A receive command (`wskrecv listen` / `wskrecv event`) run as a child process.

The selftest drives the real commands a user runs: each receiver is `python -m wskrecv`
with --json on a free loopback port; a thread collects its JSON lines so a case can wait
(bounded) for what it expects, then stop it with SIGINT like Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Optional

from wskrecv.signals import DIE_WITH_PARENT_ENV

# The receive command line of each style.
STYLE_ARGS: dict[str, list[str]] = {
    "irp": ["listen", "--outstanding", "16"],
    "event": ["event"],
    "event-pend": ["event", "--pend"],
}


class ReceiverError(Exception):
    """The receiver did not start, or did not end, as it should: the case fails."""


@dataclass
class Finished:
    """How a receiver ended: exit status, summary object, --dump records, stderr."""

    status: int
    summary: dict[str, Any]
    datagrams: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""


class ReceiverProcess:
    """One running receive command with --json, bound to `bind` port 0."""

    def __init__(self, style: str, *args: str, bind: str = "127.0.0.1",
                 start_timeout: float = 20) -> None:
        argv = [sys.executable, "-m", "wskrecv", *STYLE_ARGS[style], *args,
                "--bind", bind, "--port", "0", "--json"]
        self.argv = argv
        # The receiver goes with the selftest, even a selftest killed by SIGKILL.
        env = {**os.environ, DIE_WITH_PARENT_ENV: str(os.getpid())}
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=env
        )
        self.objects: list[dict[str, Any]] = []
        self._stderr: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        for t in self._threads:
            t.start()
        try:
            start = self.wait(lambda objs: any(o.get("type") == "start" for o in objs),
                              start_timeout)
        except BaseException:  # a stop signal while it starts: no `with` ends it yet
            self.__exit__()
            raise
        if not start:
            self.__exit__()
            err = "".join(self._stderr).strip().splitlines()
            raise ReceiverError(f"receiver did not start: {err[-1] if err else 'no output'}")
        info = next(o for o in self.objects if o.get("type") == "start")
        self.address: str = info["address"]
        self.port: int = info["port"]
        self.start_info = info

    # -- reading ----------------------------------------------------------------------

    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {"type": "garbage", "line": line}
            with self._cond:
                self.objects.append(obj)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr.append(line)

    def wait(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> bool:
        """Block until `predicate(objects)` holds or `timeout` passes (or output ends)."""
        end = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.objects):
                left = end - time.monotonic()
                if left <= 0 or self._eof:
                    return predicate(self.objects)
                self._cond.wait(left)
            return True

    def latest(self, kind: str = "interval") -> Optional[dict[str, Any]]:
        with self._cond:
            for obj in reversed(self.objects):
                if obj.get("type") == kind:
                    return obj
        return None

    # -- ending -----------------------------------------------------------------------

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 30) -> Finished:
        """Wait for the receiver to exit by itself (or after `interrupt`)."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ReceiverError(f"receiver did not exit within {timeout:g} s") from None
        for t in self._threads:
            t.join(5)
        summaries = [o for o in self.objects if o.get("type") == "summary"]
        stderr = "".join(self._stderr)
        if len(summaries) != 1:
            last = stderr.strip().splitlines()
            raise ReceiverError(
                f"receiver exited {status} without one summary"
                + (f": {last[-1]}" if last else "")
            )
        datagrams = [o for o in self.objects if o.get("type") == "datagram"]
        return Finished(status, summaries[0], datagrams, stderr)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ReceiverProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        for t in self._threads:
            t.join(5)  # the readers see end-of-file once the child is gone
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
