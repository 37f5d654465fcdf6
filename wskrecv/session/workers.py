"""A session's run with `--workers N`: N sockets on one address, N worker processes, one
report.

Binds (or adopts) the sockets and forks the workers, each running the same assembly as a
one-process run (assembly.build_runner) on its socket; the parent then takes the reporter
and serves the metrics (after the fork: no thread and no display process is inherited),
runs the coordinator (wskrecv.workers.coordinator) and joins the workers' capture parts.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any, Callable, Optional

import wskrecv.builtin  # noqa: F401 (imported once here, before the fork, not in every worker)
import wskrecv.wsk  # noqa: F401
from wskrecv.config import ReceiveConfig
from wskrecv.errors import UsageError
from wskrecv.provider.activation import listen_fds
from wskrecv.provider.health import address_gone
from wskrecv.provider.udp import UdpProvider, adopt_fd, open_udp
from wskrecv.runner import Limits
from wskrecv.session.assembly import build_runner
from wskrecv.stats.hostudp import HostUdp
from wskrecv.stats.thresholds import Thresholds
from wskrecv.workers.capture import PartFiles
from wskrecv.workers.coordinator import Coordinator
from wskrecv.workers.pool import Worker, start_workers, usable_cpus

if TYPE_CHECKING:
    from wskrecv.core import Core
    from wskrecv.runner import RunResult
    from wskrecv.session.receive import ReceiveSession
    from wskrecv.stats.merge import Merger

STATE_PERIOD = 0.25  # seconds between two Partials of a worker (at most)


def open_worker_sockets(config: ReceiveConfig, n: int, core: Core) -> list[UdpProvider]:
    """N providers on one address: adopted from socket activation (LISTEN_FDS=N, one
    per worker), else bound here with SO_REUSEPORT (port 0: the first picks, the rest
    join it)."""
    activated = listen_fds(os.environ, os.getpid())
    from wskrecv.provider.multicast import Membership

    read = {"batch": config.batch, "reader": core.reader, "reader_min": core.reader_min,
            "ip_fields": config.ip_fields,
            # --bind-dev (--join is refused with --workers: check_receive).
            "membership": Membership.parse(bind_dev=config.bind_dev)}
    providers: list[UdpProvider] = []
    try:
        if activated:
            if len(activated) != n:
                raise UsageError(
                    f"socket activation passed {len(activated)} socket(s) (LISTEN_FDS): "
                    f"--workers takes one per worker, so give --workers {len(activated)}")
            if config.address_given:
                raise UsageError("socket activation passed the sockets (LISTEN_FDS): "
                                 "--bind/--port do not apply")
            for fd in activated:
                providers.append(adopt_fd(fd, config.rcvbuf, **read))
            return providers
        providers.append(open_udp(config.bind_host, config.port, config.rcvbuf, reuseport=True,
                                  **read))
        port = providers[0].local_address[1]
        for _ in range(n - 1):
            providers.append(open_udp(config.bind_host, port, config.rcvbuf, reuseport=True, **read))
        return providers
    except BaseException:
        for p in providers:
            p.close()
        raise


class Workers:
    """The session's strategy for --workers N."""

    def __init__(self, config: ReceiveConfig) -> None:
        self.config = config
        self.n = config.workers or 1
        self.providers: list[UdpProvider] = []
        self.parts: Optional[PartFiles] = None
        self._capture_to: Optional[IO[bytes]] = None  # where `--pcap -` joins the parts
        self._started = False  # the workers were forked: their parts are to be joined

    def open(self, core: Core) -> list[UdpProvider]:
        self.providers = open_worker_sockets(self.config, self.n, core)
        return self.providers

    def describe(self, info: dict[str, Any]) -> None:
        info["detail"] += f", {self.n} workers (SO_REUSEPORT)"
        if self.config.cpu_affinity:
            info["detail"] += ", pinned to CPUs"
        info["workers"] = self.n

    def run(self, session: ReceiveSession, info: dict[str, Any]) -> RunResult:
        config, env = self.config, session.env
        cpus = usable_cpus()
        if self.n > len(cpus):
            env.stderr.write(f"wskrecv: warning: {self.n} workers on {len(cpus)} usable CPU(s): "
                             "they share the cores and each receives more slowly\n")
            env.stderr.flush()
        workers = self._start(session)
        info["worker_pids"] = [w.pid for w in workers]
        reporter = session.reporter()
        on_update = None
        metrics = session.metrics
        if metrics is not None:
            def on_update(merger: Merger) -> None:
                metrics.update(list(merger.latest.values()))
                for note in metrics.take_notes():
                    reporter.note(note)

        session.announce(info)
        limits = Limits(count=config.count, duration=config.duration, timeout=config.timeout,
                        interval=config.interval)
        thresholds = Thresholds(config.max_loss, config.max_reorder)
        coordinator = Coordinator(workers, reporter, limits, config.mode,
                                  judge=thresholds.judge(session.option_name) if thresholds else None,
                                  on_update=on_update, per_stream=config.per_stream,
                                  before_summary=self._join)
        session.stopping = lambda: coordinator.stop_reason is not None
        return coordinator.run(info)

    def _start(self, session: ReceiveSession) -> list[Worker]:
        """The capture's parts, then the workers, forked (the parent's copies of the sockets
        are closed once each worker has its own)."""
        config = self.config
        if config.pcap is not None:
            self.parts = PartFiles(config.pcap, self.n)
            self.parts.create(session.env.stdout_binary)  # an unwritable capture fails first
            self._capture_to = session.env.stdout_binary if config.pcap == "-" else None
        parts, core = self.parts, session.core
        # Each worker stops on its own only for --duration; --count is shared (a Budget),
        # --timeout and the thresholds are the parent's. It reports a few times a second.
        # (-i 0 turns the parent's interval reports off, not the workers' Partials.)
        worker_config = replace(config, count=None, timeout=None, max_loss=None,
                                max_reorder=None,
                                interval=min(config.interval or STATE_PERIOD, STATE_PERIOD))

        def build(provider: Any, reporter: Any, index: int) -> tuple:
            capture = None
            if parts is not None:
                from wskrecv.output.pcap import open_capture

                capture = open_capture(parts.paths[index])
            runner = build_runner(
                provider, worker_config, reporter,
                sinks=[capture.sink(provider.local_address, config.pcap)] if capture else [],
                host=HostUdp(), health=lambda: address_gone(provider.local_address), core=core,
            )
            return runner, {}, (capture.close if capture is not None else None)

        workers = start_workers(self.providers, build, config.count, config.cpu_affinity)
        self._started = True
        return workers

    def fault_clock(self) -> tuple[Callable[[], int], float]:
        """Injected faults run on the monotonic clock; a stall counts after --grace."""
        return time.monotonic_ns, self.config.grace

    def _join(self) -> None:
        """Join the capture's parts into the capture, once every worker has ended and
        before the summary (so that it says whether the capture was written)."""
        parts, self.parts = self.parts, None
        if parts is not None:
            parts.join(self._capture_to)

    def close(self) -> None:
        """Join the capture's parts into the capture if the run did not (or remove them,
        when the workers never started), and close the sockets not yet handed to
        workers."""
        parts, self.parts = self.parts, None
        try:
            if parts is not None:
                if self._started:
                    parts.join(self._capture_to)
                else:
                    parts.remove()
        finally:
            for p in self.providers:
                p.close()  # closing twice is harmless


__all__ = ["STATE_PERIOD", "Workers", "open_worker_sockets"]
