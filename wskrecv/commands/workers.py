"""A receive command with `--workers N`: N sockets, N worker processes, one report.

Assembles what wskrecv.workers runs: binds (or adopts) the sockets, forks the workers,
then builds the reporters and the metrics endpoint in the parent (after the fork: no
thread and no display process is inherited), runs the coordinator and joins the capture.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

from wskrecv.commands.common import given_on_command_line, reject, want_live
from wskrecv.commands.receive import (
    add_metrics_info,
    build_runner,
    make_reporter,
    metrics_linger,
    open_metrics,
)
from wskrecv.environment import Environment
from wskrecv.errors import OsFailure
from wskrecv.output.pcap import open_capture
from wskrecv.provider.activation import listen_fds
from wskrecv.provider.health import address_gone
from wskrecv.provider.udp import DEFAULT_BATCH, adopt_fd, open_udp
from wskrecv.runner import Limits
from wskrecv.stats import Recorder
from wskrecv.stats.hostudp import HostUdp
from wskrecv.stats.thresholds import Thresholds
from wskrecv.workers.capture import PartFiles
from wskrecv.workers.coordinator import Coordinator
from wskrecv.workers.pool import start_workers, usable_cpus
from wskrecv.wsk import WskDatagramSocket

STATE_PERIOD = 0.25  # seconds between two Partials of a worker (at most)


def open_worker_sockets(params: dict[str, Any], n: int, batch: int) -> list[Any]:
    """N providers on one address: adopted from socket activation (LISTEN_FDS=N, one
    per worker), else bound here with SO_REUSEPORT (port 0: the first picks, the rest
    join it)."""
    if params.get("fd") is not None:
        reject("--workers binds one socket per worker (SO_REUSEPORT) on an address: it "
               "cannot share the single --fd socket; give --bind/--port, or pass N sockets "
               "by socket activation (LISTEN_FDS)")
    activated = listen_fds(os.environ, os.getpid())
    if activated:
        if len(activated) != n:
            reject(f"socket activation passed {len(activated)} socket(s) (LISTEN_FDS): "
                   f"--workers takes one per worker, so give --workers {len(activated)}")
        if given_on_command_line("bind_host", "port"):
            reject("socket activation passed the sockets (LISTEN_FDS): --bind/--port do not apply")
        providers = []
        try:
            for fd in activated:
                providers.append(adopt_fd(fd, params["rcvbuf"], batch=batch))
        except BaseException:
            for p in providers:
                p.close()
            raise
        return providers
    providers = [open_udp(params["bind_host"], params["port"], params["rcvbuf"], batch=batch,
                          reuseport=True)]
    try:
        port = providers[0].local_address[1]
        for _ in range(n - 1):
            providers.append(open_udp(params["bind_host"], port, params["rcvbuf"], batch=batch,
                                      reuseport=True))
    except BaseException:
        for p in providers:
            p.close()
        raise
    return providers


def run_with_workers(
    mode: str,
    params: dict[str, Any],
    make_app: Callable[[WskDatagramSocket, Recorder], Any],
    detail: str,
    extra_start: dict[str, Any],
    env: Environment,
    lock: Any = None,
    batch: int = DEFAULT_BATCH,
    pool: Optional[int] = None,
) -> int:
    """`run_receive_command` with --workers: returns the exit status."""
    n: int = params["workers"]
    if params["dump"]:
        reject("--dump prints every datagram as it comes: use it without --workers")
    pcap_path = params.get("pcap")
    if pcap_path == "-" and params["as_json"]:
        reject("--pcap - and --json both write to standard output: write the capture to a file")
    cpus = usable_cpus()
    if n > len(cpus):
        env.stderr.write(f"wskrecv: warning: {n} workers on {len(cpus)} usable CPU(s): they "
                         "share the cores and each receives more slowly\n")
        env.stderr.flush()
    metrics = open_metrics(params)  # bound now: a port in use fails before any work
    try:
        providers = open_worker_sockets(params, n, batch)
        first = providers[0]
        parts = PartFiles(pcap_path, n) if pcap_path is not None else None
        seq_format = params["seq_format"]

        def build(provider: Any, reporter: Any, limits: Limits, index: int) -> tuple:
            dump = None
            if parts is not None:
                capture = open_capture(parts.paths[index])
                dump = capture.sink(provider.local_address, pcap_path)
            runner = build_runner(
                provider, mode, make_app, reporter, limits, lock=lock, dump=dump, batch=batch,
                pool=pool, seq_format=seq_format, host=HostUdp(),
                health=lambda: address_gone(provider.local_address),
            )
            return runner, {}, (capture.close if parts is not None else None)

        worker_limits = Limits(duration=params["duration"],
                               interval=min(params["interval"], STATE_PERIOD))
        info = {
            "mode": mode,
            "address": first.local_address[0],
            "port": first.local_address[1],
            "rcvbuf": first.rcvbuf,
            "rcvbuf_requested": first.rcvbuf_requested,
            "reader": first.reader,
            "detail": f"{detail}, {n} workers (SO_REUSEPORT)"
            + (", pinned to CPUs" if params.get("cpu_affinity") else ""),
            "seq_format": seq_format,
            **extra_start,
            "workers": n,
        }
        workers = start_workers(providers, build, worker_limits, params["count"],
                                bool(params.get("cpu_affinity")))
    except BaseException:
        if metrics is not None:
            metrics.close()
        raise
    info["worker_pids"] = [w.pid for w in workers]
    reporter = make_reporter(env, params["as_json"], params["quiet"],
                             stdout_taken=pcap_path == "-", live=want_live(env, params))
    on_update = None
    if metrics is not None:
        metrics.start()
        add_metrics_info(info, metrics)

        def on_update(merger: Any) -> None:
            metrics.update(list(merger.latest.values()))

    limits = Limits(count=params["count"], duration=params["duration"],
                    timeout=params["timeout"], interval=params["interval"])
    thresholds = Thresholds(params["max_loss"], params["max_reorder"])
    coordinator = Coordinator(workers, reporter, limits, mode, judge=thresholds.check,
                              on_update=on_update)
    result = None
    try:
        result = coordinator.run(info)
    finally:
        try:
            if parts is not None:
                parts.join(env.stdout_binary if pcap_path == "-" else None)
        finally:
            close = getattr(reporter, "close", None)
            if close is not None:
                close()
            if metrics is not None:
                if result is not None:
                    metrics.linger(metrics_linger(params))
                metrics.close()
    if result.error:
        raise OsFailure(result.error)
    if result.threshold:
        env.stderr.write(f"wskrecv: threshold exceeded: {result.threshold}\n")
        env.stderr.flush()
    return int(result.status)


__all__ = ["open_worker_sockets", "run_with_workers"]
