"""`program.receive` with `--workers N`: N sockets, N worker processes, one report.

Binds (or adopts) the sockets, forks the workers, then builds the reporter and serves the
metrics in the parent (after the fork: no thread and no display process is inherited),
runs the coordinator and joins the capture. Click-free, like program.py.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Callable, Optional

import wskrecv.builtin  # noqa: F401 (imported once here, before the fork, not in every worker)
import wskrecv.wsk  # noqa: F401
from wskrecv import core as cores
from wskrecv.environment import Environment
from wskrecv.errors import OsFailure, UsageError
from wskrecv.program import ReceiveConfig, build_runner, make_reporter, open_metrics
from wskrecv.provider.activation import listen_fds
from wskrecv.provider.health import address_gone
from wskrecv.provider.udp import adopt_fd, open_udp
from wskrecv.runner import Limits
from wskrecv.stats.hostudp import HostUdp
from wskrecv.stats.thresholds import Thresholds
from wskrecv.workers.capture import PartFiles
from wskrecv.workers.coordinator import Coordinator
from wskrecv.workers.pool import start_workers, usable_cpus

STATE_PERIOD = 0.25  # seconds between two Partials of a worker (at most)


def open_worker_sockets(config: ReceiveConfig, n: int) -> list[Any]:
    """N providers on one address: adopted from socket activation (LISTEN_FDS=N, one
    per worker), else bound here with SO_REUSEPORT (port 0: the first picks, the rest
    join it)."""
    activated = listen_fds(os.environ, os.getpid())
    core = cores.current()
    read = {"batch": config.batch, "reader": core.reader, "reader_min": core.reader_min}
    providers: list[Any] = []
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


def _start_info(config: ReceiveConfig, first: Any, n: int) -> dict[str, Any]:
    detail, extra = config.describe()
    detail += f", {n} workers (SO_REUSEPORT)"
    if config.cpu_affinity:
        detail += ", pinned to CPUs"
    return {
        "mode": config.mode,
        "address": first.local_address[0],
        "port": first.local_address[1],
        "rcvbuf": first.rcvbuf,
        "rcvbuf_requested": first.rcvbuf_requested,
        "reader": first.reader,
        "core": cores.current().name,
        "detail": detail,
        "seq_format": config.seq_format,
        **extra,
        "workers": n,
    }


def receive_with_workers(config: ReceiveConfig, env: Environment,
                         option_name: Callable[[str], str] = str) -> int:
    """Run `config` (whose `workers` is set) over N worker processes; returns the exit
    status, errors propagate as WskrecvError. `option_name`: as for program.receive."""
    n = config.workers or 1
    metrics = open_metrics(config)  # bound now: a port in use fails before any work
    parts: Optional[PartFiles] = None
    providers: list[Any] = []
    try:
        providers = open_worker_sockets(config, n)
        cpus = usable_cpus()
        if n > len(cpus):
            env.stderr.write(f"wskrecv: warning: {n} workers on {len(cpus)} usable CPU(s): "
                             "they share the cores and each receives more slowly\n")
            env.stderr.flush()
        info = _start_info(config, providers[0], n)
        if config.pcap is not None:
            parts = PartFiles(config.pcap, n)
            parts.create(env.stdout_binary)  # an unwritable capture fails before any work
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
                host=HostUdp(), health=lambda: address_gone(provider.local_address),
            )
            return runner, {}, (capture.close if capture is not None else None)

        workers = start_workers(providers, build, config.count, config.cpu_affinity)
    except BaseException:
        if metrics is not None:
            metrics.close()
        if parts is not None:
            parts.remove()
        for p in providers:
            p.close()  # not yet handed to workers (closing twice is harmless)
        raise
    info["worker_pids"] = [w.pid for w in workers]
    reporter = make_reporter(env, config)
    on_update = None
    if metrics is not None:
        metrics.start()
        metrics.describe(info)

        def on_update(merger: Any) -> None:
            metrics.update(list(merger.latest.values()))
            for note in metrics.take_notes():
                reporter.note(note)

    limits = Limits(count=config.count, duration=config.duration, timeout=config.timeout,
                    interval=config.interval)
    thresholds = Thresholds(config.max_loss, config.max_reorder)
    coordinator = Coordinator(workers, reporter, limits, config.mode,
                              judge=thresholds.judge(option_name) if thresholds else None,
                              on_update=on_update, per_stream=config.per_stream)
    result = None
    try:
        result = coordinator.run(info)
    finally:
        try:
            if parts is not None:
                parts.join(env.stdout_binary if config.pcap == "-" else None)
        finally:
            close = getattr(reporter, "close", None)
            if close is not None:
                close()
            if metrics is not None:
                if result is not None and not result.signalled_after:
                    metrics.linger(config.metrics_linger)
                metrics.close()
    if result.error:
        raise OsFailure(result.error)
    if result.threshold:
        env.stderr.write(f"wskrecv: threshold exceeded: {result.threshold}\n")
        env.stderr.flush()
    return int(result.status)


__all__ = ["open_worker_sockets", "receive_with_workers"]
