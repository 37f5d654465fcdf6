"""The receivers `wskrecv bench` times: wskrecv's own modes and the two baselines.

Every target opens a fresh socket per measurement (so one round's leftovers cannot leak
into the next), receives up to `count` datagrams from it, and says how long its receive
loop took by its own clock. wskrecv modes run in-process through exactly the objects the
receive commands build (WSK model, application, recorder, runner: `session.assembly.build_runner`).
"""

from __future__ import annotations

import dataclasses
import gc
import socket
import subprocess
import time
from collections.abc import Sequence
from typing import Any, Optional

from wskrecv.bench.native import Native, parse_pair
from wskrecv.bench.queue import HOST, plain_socket
from wskrecv.config import BENCH_MODES, ReceiveConfig
from wskrecv.core import Core
from wskrecv.errors import Ending, ExitStatus, OsFailure
from wskrecv.provider.udp import UdpProvider, open_udp
from wskrecv.runner import Runner
from wskrecv.session.assembly import build_runner
from wskrecv.signals import STOP_SIGNALS
from wskrecv.stats.snapshot import Snapshot

MAX_DATAGRAM = ReceiveConfig().buffer_size  # the baselines' buffer, as listen's default


class NullReporter:
    """The runner's reporter, silent: a benchmark prints its own results."""

    frame_interval: Optional[float] = None

    def start(self, info: dict[str, Any]) -> None:
        pass

    def interval(self, snap: Snapshot) -> None:
        pass

    def frame(self, snap: Snapshot) -> None:
        pass

    def datagram(self, record: dict[str, Any]) -> None:
        pass

    def note(self, record: dict[str, Any]) -> None:
        pass

    def summary(
        self, snap: Snapshot, status: ExitStatus, reason: str, threshold: Optional[str] = None
    ) -> None:
        pass

    def close(self) -> None:
        pass


class Target:
    """One receiver: `open` a socket, `prepare` for `count` datagrams, `receive`, `close`.

    `end` stops a `receive` in progress from another thread (live runs)."""

    name = ""
    base = ""  # the `--mode` name this target measures (several cores: several targets)
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
    """A wskrecv receive mode: provider, model, application and runner as the receive
    commands build them from `config` (their defaults but for what the mode sets)."""

    def __init__(
        self, name: str, label: str, config: ReceiveConfig, core: Core, base: str = ""
    ) -> None:
        self.name = name
        self.base = base or name
        self.label = label
        self.config = config
        self.core = core
        self.provider: Optional[UdpProvider] = None
        self.runner: Optional[Runner] = None
        self._facts: dict[str, Any] = {}

    def open(self, rcvbuf: int) -> socket.socket:
        self.provider = open_udp(HOST, 0, rcvbuf, batch=self.config.batch,
                                 reader=self.core.reader, reader_min=self.core.reader_min)
        return self.provider.sock

    def prepare(self, count: int) -> None:
        assert self.provider is not None
        # A deadline only so that a broken mode cannot hang the benchmark.
        config = dataclasses.replace(self.config, count=count, timeout=max(60.0, count / 2000))
        self.runner = build_runner(self.provider, config, NullReporter(), core=self.core)

    def receive(self) -> tuple[int, float]:
        assert self.runner is not None
        gc.collect()
        t0 = time.perf_counter()
        result = self.runner.run({"mode": self.config.mode})
        seconds = time.perf_counter() - t0
        if result.signum is not None:
            # The runner caught Ctrl-C, SIGTERM or SIGHUP: the benchmark stops (the reason
            # says which: signals.signal_of).
            raise KeyboardInterrupt(STOP_SIGNALS[result.signum])
        snap = result.snapshot
        self._facts = {"violations": snap.violations, "kernel_drops": snap.kernel_drops}
        if result.ending is Ending.DEADLINE_MISSED:
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

    name = base = "python"
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

    name = base = "c"
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


def _config(name: str) -> ReceiveConfig:
    """The receive options of wskrecv bench mode `name` (their defaults otherwise)."""
    if name.startswith("irp-"):  # `wskrecv listen --outstanding N`
        return ReceiveConfig(mode="irp", outstanding=int(name[4:]))
    return ReceiveConfig(mode="event", pend=name == "event-pend")  # released at once


_LABELS = {"irp-1": "irp --outstanding 1", "irp-64": "irp --outstanding 64", "event": "event",
           "event-pend": "event --pend"}


def all_targets(native: Native, cores: Sequence[Core]) -> list[Target]:
    """A target for every name of `config.BENCH_MODES`, in that order (the C one may be
    unavailable): the wskrecv modes once per core, side by side. The first core's targets
    carry the mode's name, the pure-Python core's beside it `NAME-py`."""
    targets: list[Target] = [CLoop(native), PythonLoop()]
    for name in BENCH_MODES:
        if name in ("c", "python"):
            continue
        for core in cores:
            suffix = "" if core is cores[0] else "-py"
            targets.append(mode_target(name, core, suffix, tag=len(cores) > 1))
    return targets


def mode_target(name: str, core: Core, suffix: str = "", tag: bool = False) -> WskrecvTarget:
    """The target of wskrecv bench mode `name` on `core`, named `name + suffix`; `tag`
    puts the core's name in its label."""
    label = _LABELS[name] + (f" [{core.name}]" if tag else "")
    return WskrecvTarget(name + suffix, label, _config(name), core, base=name)
