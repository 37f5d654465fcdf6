"""Run `wskrecv` in this process, as the installed command runs it: `cli.main(argv)` with
the standard streams and the environment swapped for the test's (click's CliRunner,
httpie's MockEnvironment). The exit status is main's `sys.exit`; stdout is kept as bytes
(`--pcap -` writes there), stderr as text.

Receive runs use real loopback sockets, as a process would: `receive(...)` binds to a
free port and, once the command says where it receives (its start line), sends the
test's datagrams there and calls `then(run)`, from inside that write: the socket is bound
and nothing has been read yet, so nothing sent then can be missed.

Keep a subprocess (tests/conftest.py: Wskrecv, run_cli) for what needs a process: a
signal, a terminal, an exit by signal, --workers (fork), the installed entry point,
start-up imports, a `run` client whose threads outlive the run (wskrecv exits without
waiting for them: os._exit).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from wskrecv import cli

# The longest an in-process run may take before the harness stops it (SIGTERM: the run
# ends with its summary) and fails the test.
TIMEOUT = 60.0

_START = re.compile(r"receiving on (\[(?P<v6>[^\]]+)\]|(?P<v4>[^\s:]+)):(?P<port>\d+)")


class Stream(io.BytesIO):
    """A standard stream's bytes; `on_line` hears every complete line as it is written."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        super().__init__()
        self.on_line = on_line
        self._partial = bytearray()  # the line being written

    def write(self, data: Any) -> int:
        n = super().write(data)
        self._partial += data
        while (end := self._partial.find(b"\n")) >= 0:
            line = bytes(self._partial[: end + 1])
            del self._partial[: end + 1]
            self.on_line(line.decode("utf-8", "replace"))
        return n


@dataclass
class Result:
    """What a `wskrecv` run left: its exit status and its output."""

    status: int
    out: bytes  # stdout, as bytes
    stderr: str
    address: Optional[tuple[str, int]] = None  # where a receive run received
    sent: int = 0  # datagrams `receive` sent
    notes: list[Any] = field(default_factory=list)  # what `then` kept

    @property
    def stdout(self) -> str:
        return self.out.decode("utf-8", "replace")

    @property
    def returncode(self) -> int:
        """The exit status, as subprocess.CompletedProcess names it."""
        return self.status

    @property
    def objs(self) -> list[dict[str, Any]]:
        """The JSON lines of stdout."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def after_start(self) -> list[dict[str, Any]]:
        """The JSON lines after the start object (what tests/conftest.py's Wskrecv.finish
        gives)."""
        return [o for o in self.objs if o.get("type") != "start"]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objs if o.get("type") == kind]

    @property
    def start(self) -> dict[str, Any]:
        (start,) = self.of_type("start")
        return start

    @property
    def summary(self) -> dict[str, Any]:
        summaries = self.of_type("summary")
        assert len(summaries) == 1, (self.status, self.stdout, self.stderr)
        return summaries[0]


def _set_environment(values: Mapping[str, Optional[str]]) -> None:
    """os.environ takes `values` (None: unset)."""
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@contextmanager
def _environment(changes: Mapping[str, Optional[str]]) -> Iterator[None]:
    """os.environ with `changes` (None: unset) for the block."""
    saved = {k: os.environ.get(k) for k in changes}
    try:
        _set_environment(changes)
        yield
    finally:
        _set_environment(saved)


def wskrecv(*args: str, env: Optional[Mapping[str, Optional[str]]] = None,
            stdin: bytes = b"", on_start: Optional[Callable[[str], None]] = None,
            on_line: Optional[Callable[[str], None]] = None, cwd: Optional[str] = None,
            timeout: float = TIMEOUT) -> Result:
    """`wskrecv ARGS` in this process. `env`: environment variables to set (None: unset)
    for the run; `cwd`: its working directory; `on_start(line)`: the first line the
    command writes (stdout or stderr), `on_line(line)`: every line after it, each heard as
    it is written (an exception there ends nothing: it is raised once the run is over)."""
    heard: list[BaseException] = []
    started = [False]

    def line_written(line: str) -> None:
        first, started[0] = not started[0], True
        hear = on_start if first else on_line
        if hear is None or heard:
            return
        try:
            hear(line)
        except BaseException as exc:  # re-raised once the run is over
            heard.append(exc)

    out, err = Stream(line_written), Stream(line_written)
    streams = (sys.stdin, sys.stdout, sys.stderr)
    stopped = threading.Event()

    def overdue() -> None:
        stopped.set()
        os.kill(os.getpid(), signal.SIGTERM)  # the run's stop signal: it ends, with its summary

    timer = threading.Timer(timeout, overdue)
    timer.daemon = True
    wrappers = (io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"),
                io.TextIOWrapper(out, encoding="utf-8", write_through=True),
                io.TextIOWrapper(err, encoding="utf-8", write_through=True))
    sys.stdin, sys.stdout, sys.stderr = wrappers
    status: Any = 0
    here = os.getcwd()
    path, modules = list(sys.path), set(sys.modules)
    try:
        if cwd is not None:
            os.chdir(cwd)
        with _environment(env or {}):
            timer.start()
            try:
                cli.main(list(args))
            except SystemExit as exc:
                status = exc.code
    finally:
        timer.cancel()
        os.chdir(here)
        # A `run` client's folder went first on sys.path, its module into sys.modules.
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if name.startswith("wskrecv_client_"):
                del sys.modules[name]
        sys.stdin, sys.stdout, sys.stderr = streams
        for wrapper in wrappers:
            if not wrapper.closed:
                wrapper.flush()
                wrapper.detach()  # a wrapper that goes away would close our bytes
    if heard:
        raise heard[0]
    if stopped.is_set():
        raise AssertionError(f"wskrecv {' '.join(args)} did not end within {timeout} s: "
                             f"{err.getvalue().decode(errors='replace')}")
    if status is None:
        status = 0
    elif not isinstance(status, int):
        status = 1
    return Result(status, out.getvalue(), err.getvalue().decode("utf-8", "replace"))


def address_in(start_line: str) -> tuple[str, int]:
    """Where a receive command receives: from its JSON start object or its start line."""
    if start_line.startswith("{"):
        start = json.loads(start_line)
        return start["address"], start["port"]
    m = _START.search(start_line)
    assert m, start_line
    return m.group("v6") or m.group("v4"), int(m.group("port"))


def send_to(address: tuple[str, int], payloads: Iterable[bytes],
            source: Optional[socket.socket] = None) -> int:
    """Send `payloads` to `address` from `source` (default: a new socket); how many."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    s = source or socket.socket(family, socket.SOCK_DGRAM)
    n = 0
    try:
        for p in payloads:
            s.sendto(p, address)
            n += 1
    finally:
        if source is None:
            s.close()
    return n


def receive(*args: str, send: Iterable[bytes] = (), bind: str = "127.0.0.1",
            json_mode: bool = True, then: Optional[Callable[[Result], None]] = None,
            each_line: Optional[Callable[[Result, str], None]] = None,
            source: Optional[socket.socket] = None, **kwargs: Any) -> Result:
    """A receive command (`listen`, `event`, `run CLIENT`...) on a free port of `bind`:
    once it says where it receives, `send` goes there (from `source`, if given), then
    `then(result)` runs (result.address set; whatever it appends to result.notes stays);
    `each_line(result, line)` hears every later line. The run must end by itself
    (--count, --duration, --timeout)."""
    result = Result(0, b"", "")

    def started(line: str) -> None:
        result.address = address_in(line)
        result.sent = send_to(result.address, send, source)
        if then is not None:
            then(result)

    def later(line: str) -> None:
        if each_line is not None:
            each_line(result, line)

    argv = [*args, "--bind", bind, "--port", "0", *(["--json"] if json_mode else [])]
    done = wskrecv(*argv, on_start=started, on_line=later, **kwargs)
    done.address, done.sent, done.notes = result.address, result.sent, result.notes
    return done


__all__ = ["Result", "TIMEOUT", "address_in", "receive", "send_to", "wskrecv"]
