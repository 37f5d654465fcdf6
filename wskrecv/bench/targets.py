"""The receivers `wskrecv bench` times: wskrecv's own modes and the two baselines.

Every target opens a fresh socket per measurement (so one round's leftovers cannot leak
into the next), receives up to `count` datagrams from it, and says how long its receive
loop took by its own clock. wskrecv modes run in-process through exactly the objects the
CLI builds (provider, WSK model, application, runner; `commands.receive.build_runner`).
"""

from __future__ import annotations

import gc
import socket
import subprocess
import time
from typing import Any, Callable, Optional

from wskrecv.bench.native import Native, parse_pair
from wskrecv.bench.queue import HOST, plain_socket
from wskrecv.errors import ExitStatus, OsFailure
from wskrecv.provider.udp import UdpProvider, open_udp
from wskrecv.runner import Limits, Runner

MAX_DATAGRAM = 65535  # receive buffer of every target, like listen's default --buffer-size

AppFactory = Callable[[Any, Any], Any]  # (WskDatagramSocket, Recorder) -> application


class NullReporter:
    """The runner's reporter, silent: a benchmark prints its own results."""

    def start(self, info: dict[str, Any]) -> None:
        pass

    def interval(self, snap: Any) -> None:
        pass

    def summary(self, snap: Any, status: Any, reason: str) -> None:
        pass


class Target:
    """One receiver: `open` a socket, `prepare` for `count` datagrams, `receive`, `close`.

    `end` stops a `receive` in progress from another thread (live runs)."""

    name = ""
    label = ""
    kind = "wskrecv"  # or "baseline"
    available = True
    note = ""  # why it is not available

    def open(self, rcvbuf: int) -> socket.socket:
        """A fresh bound socket with `rcvbuf` asked for; returns the OS socket to fill."""
        raise NotImplementedError

    def prepare(self, count: int) -> None:
        """Get ready to receive `count` datagrams (nothing timed happens here)."""
        self.count = count

    def receive(self) -> tuple[int, float]:
        """Receive until `count` datagrams (or `end`): (received, seconds of receiving)."""
        raise NotImplementedError

    def end(self) -> None:
        """Stop a `receive` in progress (called from another thread in live runs)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def check(self) -> dict[str, Any]:
        """Facts to keep about the last `receive` (violations...)."""
        return {}


class WskrecvTarget(Target):
    """A wskrecv receive mode: provider, model, application and runner as the CLI builds them."""

    def __init__(
        self, name: str, label: str, mode: str, make_app: AppFactory,
        make_lock: Optional[Callable[[], Any]] = None, pool: Optional[int] = None,
    ) -> None:
        self.name = name
        self.label = label
        self.mode = mode
        self.make_app = make_app
        self.make_lock = make_lock
        self.pool = pool  # the socket's indication buffers (event modes), as the CLI sets
        self.provider: Optional[UdpProvider] = None
        self.runner: Optional[Runner] = None
        self._facts: dict[str, Any] = {}

    def open(self, rcvbuf: int) -> socket.socket:
        self.provider = open_udp(HOST, 0, rcvbuf)
        return self.provider.sock

    def prepare(self, count: int) -> None:
        from wskrecv.commands.receive import build_runner  # the CLI's own assembly

        assert self.provider is not None
        lock = self.make_lock() if self.make_lock is not None else None
        # A deadline only so that a broken mode cannot hang the benchmark.
        limits = Limits(count=count, timeout=max(60.0, count / 2000))
        self.runner = build_runner(
            self.provider, self.mode, self.make_app, NullReporter(), limits, lock=lock,
            pool=self.pool,
        )

    def receive(self) -> tuple[int, float]:
        assert self.runner is not None
        gc.collect()
        t0 = time.perf_counter()
        result = self.runner.run({"mode": self.mode})
        seconds = time.perf_counter() - t0
        if result.reason in ("interrupted", "terminated"):
            raise KeyboardInterrupt  # the runner caught Ctrl-C: the benchmark stops
        snap = result.snapshot
        self._facts = {"violations": snap.violations, "kernel_drops": snap.kernel_drops}
        if result.status is ExitStatus.DEADLINE:
            self._facts["stalled"] = True
        return snap.received, seconds

    def end(self) -> None:
        if self.runner is not None:
            self.runner.request_stop("sender done")

    def close(self) -> None:
        if self.provider is not None:
            self.provider.close()
        self.provider = None
        self.runner = None

    def check(self) -> dict[str, Any]:
        return dict(self._facts)


class _PlainTarget(Target):
    """A baseline on a bare, blocking socket; an empty datagram ends a live run."""

    kind = "baseline"

    def __init__(self) -> None:
        self.sock: Optional[socket.socket] = None

    def open(self, rcvbuf: int) -> socket.socket:
        self.sock = plain_socket(rcvbuf)
        return self.sock

    def end(self) -> None:
        if self.sock is None:
            return
        try:
            with socket.socket(self.sock.family, socket.SOCK_DGRAM) as tx:
                tx.sendto(b"", self.sock.getsockname())
        except OSError:
            pass  # already closed: the receive is over anyway

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


class PythonLoop(_PlainTarget):
    """The bare Python loop: `recvfrom_into` into one preallocated buffer."""

    name = "python"
    label = "python recvfrom_into loop"

    def receive(self) -> tuple[int, float]:
        assert self.sock is not None
        count = self.count
        buf = bytearray(MAX_DATAGRAM)
        recv = self.sock.recvfrom_into
        got = 0
        gc.collect()
        t0 = time.perf_counter()
        while got < count:
            n, _addr = recv(buf)
            if n == 0:
                break
            got += 1
        return got, time.perf_counter() - t0


class CLoop(_PlainTarget):
    """The near-physical reference: a C recvfrom loop in a child process sharing the socket."""

    name = "c"
    label = "C recvfrom loop"

    def __init__(self, native: Native) -> None:
        super().__init__()
        self.native = native
        self.available = native.available
        self.note = native.note
        self.proc: Optional[subprocess.Popen] = None

    def prepare(self, count: int) -> None:
        """Start the child: it times its own loop, so its start-up is not counted."""
        assert self.sock is not None and self.native.path is not None
        fd = self.sock.fileno()
        self.proc = subprocess.Popen(
            [self.native.path, "recv", str(fd), str(count), str(MAX_DATAGRAM)],
            pass_fds=(fd,), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def receive(self) -> tuple[int, float]:
        assert self.proc is not None
        out, err = self.proc.communicate()
        if self.proc.returncode != 0:
            raise OsFailure(f"C receiver failed: {err.strip() or self.proc.returncode}")
        got, ns = parse_pair(out, "recv")
        return got, ns / 1e9

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # interrupted mid-run: do not leave the child behind
            self.proc.wait()
        self.proc = None
        super().close()


def irp_target(outstanding: int) -> WskrecvTarget:
    """`wskrecv listen --outstanding N` with its defaults otherwise."""
    from wskrecv.apps import IrpReceiver

    return WskrecvTarget(
        name=f"irp-{outstanding}",
        label=f"irp --outstanding {outstanding}",
        mode="irp",
        make_app=lambda sock, rec: IrpReceiver(sock, rec, outstanding, MAX_DATAGRAM),
    )


def event_target(pend: bool) -> WskrecvTarget:
    """`wskrecv event`, or `wskrecv event --pend` (released by the worker at once), with
    their defaults otherwise."""
    import threading

    from wskrecv.apps import EventReceiver
    from wskrecv.commands.event import DEFAULT_POOL

    return WskrecvTarget(
        name="event-pend" if pend else "event",
        label="event --pend" if pend else "event",
        mode="event",
        make_app=lambda sock, rec: EventReceiver(sock, rec, pend=pend),
        make_lock=threading.RLock if pend else None,  # WskRelease comes from the worker
        pool=DEFAULT_POOL,
    )


def all_targets(native: Native) -> list[Target]:
    """Every mode the benchmark knows, baselines first (the C one may be unavailable)."""
    return [
        CLoop(native), PythonLoop(), irp_target(1), irp_target(64),
        event_target(False), event_target(True),
    ]


def mode_names() -> list[str]:
    """Names `--mode` accepts, in report order."""
    return [t.name for t in all_targets(Native(None, None))]
