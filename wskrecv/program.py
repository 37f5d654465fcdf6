"""The program: what `wskrecv listen` and `wskrecv event` run once their options are
parsed, and the assembly `wskrecv bench` times (httpie's `core.program(args, env)`).

The configuration (`ReceiveConfig`, `BenchConfig`: every option with its default) is
config.py's, and importable from here too. `build_runner` puts the WSK model, the
application, the recorder and the runner on top of an open provider; `receive` opens the
provider, runs and reports.
Both the receive commands and the benchmark's targets go through `build_runner`, so the
benchmark measures the code path users run, full statistics included.

No click here: errors are WskrecvError subclasses (wskrecv/errors.py), and the command
line turns the ones about inherited sockets and standard output into messages that name
its flags. The machinery is imported inside the functions: `--help` reads the defaults
through this module and must not pay for the receive machinery (tests/cli/test_startup.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Optional

from wskrecv.addresses import plain_host
from wskrecv.config import BENCH_MODES, RECEIVE_MODES, BenchConfig, ReceiveConfig
from wskrecv.environment import Environment
from wskrecv.errors import OsFailure

if TYPE_CHECKING:
    from wskrecv.builtin.base import Receiver
    from wskrecv.core import Core
    from wskrecv.hosting.user import UserClient
    from wskrecv.iperf3.service import Iperf3Service
    from wskrecv.output.metrics import MetricsEndpoint
    from wskrecv.output.pcap import PcapWriter
    from wskrecv.provider.udp import UdpProvider
    from wskrecv.runner import Provider, Reporter, Runner, RunResult, Sidecar
    from wskrecv.stats.hostudp import HostUdp
    from wskrecv.stats.recorder import DumpRecord, DumpSink, Recorder
    from wskrecv.wsk import WskDatagramSocket

# Builds the application on the model's socket, recording into the recorder.
AppFactory = Callable[["WskDatagramSocket", "Recorder"], "Receiver"]


def make_app(config: ReceiveConfig, sock: WskDatagramSocket, recorder: Recorder) -> Receiver:
    """The built-in client `config.mode` names (listen's or event's), hosted on `sock` as
    `wskrecv run` hosts a user's client, counted into `recorder`."""
    from wskrecv.builtin import EventClient, IrpClient
    from wskrecv.hosting.host import host_builtin

    def make_client() -> IrpClient | EventClient:
        if config.mode == "irp":
            return IrpClient(config.outstanding, config.buffer_size)
        return EventClient(pend=config.pend, hold=(config.hold or 0.0) / 1000.0,
                           reject_every=config.reject_every or 0,
                           keep_every=config.keep_every or 0, static=config.static_callbacks)

    return host_builtin(make_client, sock, recorder)


def build_runner(
    provider: Provider,
    config: ReceiveConfig,
    reporter: Reporter,
    *,
    sinks: Sequence[DumpSink] = (),
    host: Optional[HostUdp] = None,
    health: Optional[Callable[[], Optional[str]]] = None,
    core: Optional[Core] = None,
    sidecar: Optional[Callable[[Recorder, WskDatagramSocket], Sidecar]] = None,
    app: Optional[AppFactory] = None,
    option_name: Callable[[str], str] = str,
) -> Runner:
    """The WSK model, the application, the recorder and the runner on top of an open
    provider: what a receive command runs, and what `wskrecv bench` times. `sinks` get
    every datagram, from the runner's thread (--dump, --pcap: `config.keeps_datagrams`);
    `host` reports the host's UDP counters (None: not reported); `health` says, once per
    interval, why the socket can no longer receive; `sidecar` builds what the loop
    carries beside the socket (the iperf3 server); `app` builds the application
    (default: the one `config.mode` names); `core` counts (None: this process's,
    wskrecv.core.current()); `option_name` is how the caller calls a ReceiveConfig field
    (a failed threshold's reason names it)."""
    import threading

    from wskrecv import core as cores
    from wskrecv.hosting.lock import SocketLock
    from wskrecv.provider.broadcast import broadcast_addresses
    from wskrecv.runner import Limits, Runner
    from wskrecv.stats import Recorder
    from wskrecv.stats.thresholds import Thresholds
    from wskrecv.wsk import (
        WSK_SET_STATIC_EVENT_CALLBACKS,
        BufferPool,
        Verifier,
        WskEventCallbackControl,
        wsk_register,
    )

    # WskRelease and re-enabling come from the worker thread, which records too: the
    # socket and the recorder each need their own lock.
    threaded = config.threaded
    # Only the event style indicates datagrams out of the pool.
    pool = BufferPool(config.pool if config.mode in ("event", "client") else None)
    # The socket comes the way a driver gets one: WskRegister, WskCaptureProviderNPI and,
    # for static callbacks, WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS) first.
    npi = wsk_register(Verifier()).capture_provider_npi()
    if config.static_callbacks:
        npi.control_client(WSK_SET_STATIC_EVENT_CALLBACKS, WskEventCallbackControl())
    sock = npi.socket(lock=SocketLock() if threaded else None, pool=pool,
                      dispatch_level=config.dispatch_level)
    sock.broadcast_addresses = broadcast_addresses()  # MSG_BCAST needs the host's
    sock.bind(provider.local_address)
    core = core or cores.current()
    # The same indication objects and states, built natively or not.
    sock.events.make_chain, sock.events.settle, sock.events.walk = core.chain, core.settle, core.walk
    counter = core.counter
    recorder = Recorder(config.mode, seq_format=config.seq_format, host=host,
                        keep_datagrams=config.keeps_datagrams,
                        lock=threading.Lock() if threaded else None, counter=counter)
    application = app(sock, recorder) if app is not None else make_app(config, sock, recorder)
    thresholds = Thresholds(config.max_loss, config.max_reorder)
    limits = Limits(count=config.count, duration=config.duration, timeout=config.timeout,
                    interval=config.interval)
    return Runner(provider, sock, application, recorder, reporter, limits, batch=config.batch,
                  judge=thresholds.judge(option_name) if thresholds else None, health=health,
                  sinks=sinks,
                  sidecar=sidecar(recorder, sock) if sidecar is not None else None,
                  # Only the IRP style's receive buffers (--buffer-size) truncate.
                  truncates_above=config.buffer_size if config.mode == "irp" else None)


def want_live(env: Environment, config: ReceiveConfig) -> bool:
    """Whether to show the live dashboard: as asked, else only when stderr is a terminal
    someone watches (not CI, not TERM=dumb) and no other output owns it."""
    if config.live is not None:
        return config.live
    if config.as_json or config.dump or config.quiet or env.ci:
        return False
    return env.stderr_isatty and env.environ.get("TERM", "") != "dumb"


def make_reporter(env: Environment, config: ReceiveConfig) -> Reporter:
    """JSON lines on stdout, human lines on stderr (dump lines on stdout unless a capture
    owns it), or the live dashboard (with JSON lines too, if asked)."""
    from wskrecv.output import HumanReporter, JsonReporter

    dump = env.stderr if config.pcap == "-" else env.stdout
    if want_live(env, config):
        from wskrecv.output.live import LiveReporter  # imports rich: only when needed

        also = JsonReporter(env.stdout, quiet=config.quiet) if config.as_json else None
        return LiveReporter(env.stderr, also=also, dump=dump, color=env.color, chart=config.chart)
    if config.as_json:
        return JsonReporter(env.stdout, quiet=config.quiet)
    return HumanReporter(env.stderr, quiet=config.quiet, dump=dump)


def _dump_to(reporter: Reporter, seq_format: str, bound: tuple) -> DumpSink:
    """A sink that hands each kept datagram to the reporter as a `datagram` record: its
    source and destination (packet info's address, else the bound one), length (and the
    real length when truncated), time, payload, and the stream and sequence number its
    header carries (`seq_format`; None without one)."""
    from wskrecv.payload import PARSERS, TRUNCATED_PARSERS

    parse, parse_truncated = PARSERS.get(seq_format), TRUNCATED_PARSERS.get(seq_format)
    dst_host, dst_port = bound[0], bound[1]

    def dump(rec: DumpRecord) -> None:
        data = rec.data
        reader = parse_truncated if rec.truncated else parse
        header = reader(data) if reader is not None else None
        reporter.datagram(
            {
                "src": plain_host(rec.remote[0]),
                "sport": rec.remote[1],
                "dst": plain_host(rec.local or dst_host),
                "dport": dst_port,
                "length": len(data),
                "orig_len": rec.orig_len if rec.orig_len is not None else len(data),
                "truncated": rec.truncated,
                "stream": header[0] if header is not None else None,
                "sequence": header[1] if header is not None else None,
                "timestamp_ns": rec.timestamp_ns,
                "data": data.hex(),
            }
        )

    return dump


def open_provider(config: ReceiveConfig, core: Optional[Core] = None) -> UdpProvider:
    """The socket `config` asks for: an inherited one (fd, socket activation) or a bound
    one, read by `core`'s batch reader (None: this process's core)."""
    from wskrecv import core as cores
    from wskrecv.provider.activation import open_receive_socket

    core = core or cores.current()
    return open_receive_socket(config.bind_host, config.port, config.rcvbuf, fd=config.fd,
                               address_given=config.address_given, batch=config.batch,
                               reader=core.reader, reader_min=core.reader_min)


def receive(config: ReceiveConfig, env: Environment,
            option_name: Callable[[str], str] = str) -> int:
    """Open the socket, build the model and the application, run, report. Returns the
    exit status; errors propagate as WskrecvError for `cli.main` to report. What the run
    says of an option (a failed threshold) calls its ReceiveConfig field
    `option_name(field)`: the command line passes its flags' names."""
    if config.workers is not None:
        from wskrecv.workers.run import receive_with_workers

        return receive_with_workers(config, env, option_name)

    from wskrecv.output.queued import Patience

    # Standard streams that can stall (a pipe nobody reads) are written by threads of
    # their own, so that -t and signals still end the run; drained at the end.
    patience = Patience(env)
    ran: list[RunResult] = []
    try:
        return _receive_here(config, patience.env, option_name, patience, ran)
    finally:
        summary = None
        if ran and config.as_json:  # the summary went to stdout: on stderr if it stalled
            from wskrecv.output.human import summary_lines

            r = ran[0]
            summary = "\n".join(summary_lines(r.snapshot, r.status, r.reason))
        patience.end(env, summary)


def _receive_here(config: ReceiveConfig, env: Environment, option_name: Callable[[str], str],
                  patience: Any, ran: list[RunResult]) -> int:
    """`receive` in this process, writing through `env` (patience's streams)."""
    from wskrecv import core as cores
    from wskrecv.output.pcap import open_capture
    from wskrecv.provider.health import address_gone
    from wskrecv.stats.hostudp import HostUdp

    user: Optional[UserClient] = None
    if config.mode == "client":
        from wskrecv.hosting.user import UserClient

        user = UserClient.load(config)  # before any socket: a bad file is exit 2
    metrics = open_metrics(config)  # bound first: a port in use fails before any work
    core = cores.current()
    reporter = make_reporter(env, config)
    runner: Optional[Runner] = None
    if metrics is not None:
        from wskrecv.output.metrics import MetricsReporter

        metrics.start()
        reporter = MetricsReporter(reporter, metrics, lambda: runner.recorder)  # type: ignore[union-attr]
    provider = open_provider(config, core)
    capture: Optional[PcapWriter] = None
    service: list[Iperf3Service] = []  # the iperf3 server, once built
    try:
        sinks: list[DumpSink] = []
        if config.dump:
            sinks.append(_dump_to(reporter, config.seq_format, provider.local_address))
        if config.pcap is not None:
            capture = open_capture(config.pcap, env.stdout_binary, within=run_length(config),
                                   waiting=lambda words: _say(env, words))
            sinks.append(capture.sink(provider.local_address, config.pcap))
        sidecar = None
        if config.iperf3:
            from wskrecv.iperf3.service import attach  # only --iperf3 pays for it

            def sidecar(recorder: Recorder, sock: WskDatagramSocket) -> Sidecar:
                service.append(attach(provider, recorder, reporter,
                                      one_off=config.one_off, json_output=config.as_json,
                                      rcv_timeout=config.rcv_timeout))
                return service[-1]

        runner = build_runner(provider, config, reporter, sinks=sinks, host=HostUdp(),
                              health=lambda: address_gone(provider.local_address),
                              sidecar=sidecar, core=core,
                              app=user.make_app if user is not None else None,
                              option_name=option_name)
        host, port = provider.local_address[:2]
        detail, extra = config.describe()
        info = {
            "mode": config.mode,
            "address": host,
            "port": port,
            "rcvbuf": provider.rcvbuf,
            "rcvbuf_requested": provider.rcvbuf_requested,
            "reader": provider.reader,
            "core": core.name,
            "detail": detail,
            "seq_format": config.seq_format,
            **extra,
            **(user.start_info() if user is not None else {}),
        }
        if provider.note:
            info["note"] = provider.note
            info["detail"] += f" ({provider.note})"
        if provider.rcvbuf_cap is not None and provider.rcvbuf_requested:
            from wskrecv.provider.udp import rmem_max_hint

            info["rmem_max"] = provider.rcvbuf_cap
            info["rcvbuf_note"] = rmem_max_hint(provider.rcvbuf_requested, provider.rcvbuf_cap)
        if provider.inherited_fd is not None:
            info["fd"] = provider.inherited_fd
            info["detail"] += f", inherited fd {provider.inherited_fd}"
        if provider.drops_before_run is not None:
            info["kernel_drops_before_run"] = provider.drops_before_run
            if provider.drops_before_run:
                info["detail"] += (f", {provider.drops_before_run} kernel drops before this "
                                   "run (not counted)")
        if metrics is not None:
            metrics.describe(info)
        for built in service:
            info["iperf3_port"] = built.port
            info["detail"] += f", iperf3 server on TCP port {built.port}"
        end = run_length(config)
        end_at = None if end is None else time.monotonic() + end
        patience.give_up_when(lambda: runner.stop_reason is not None  # type: ignore[union-attr]
                              or end_at is not None and time.monotonic() >= end_at)
        result = runner.run(info)
        ran.append(result)
        if metrics is not None and not result.signalled_after:
            metrics.linger(config.metrics_linger)
    finally:
        if metrics is not None:
            metrics.close()
        try:
            if capture is not None:
                _close_capture(capture, config.pcap or "")
        finally:
            for built in service:
                built.close()
            provider.close()
            reporter.close()  # the live display gives the terminal back, whatever happened
    if user is not None:
        user.report(env)  # what the client broke, where; its fault's traceback
    if result.error:
        raise OsFailure(result.error)  # after the summary, like any error: one line, exit 1
    if result.threshold:
        env.stderr.write(f"wskrecv: threshold exceeded: {result.threshold}\n")
        env.stderr.flush()
    return int(result.status)


def run_length(config: ReceiveConfig) -> Optional[float]:
    """The longest a run may last (--duration, --timeout), or None."""
    limits = [t for t in (config.duration, config.timeout) if t is not None]
    return min(limits) if limits else None


def _say(env: Environment, words: str) -> None:
    env.stderr.write(f"wskrecv: {words}\n")
    env.stderr.flush()


def open_metrics(config: ReceiveConfig) -> Optional[MetricsEndpoint]:
    """The /metrics endpoint, bound but not yet serving; None without --metrics."""
    if config.metrics is None:
        return None
    from wskrecv.output.metrics import MetricsEndpoint  # imports prometheus_client

    return MetricsEndpoint(config.metrics, config.metrics_label, config.metrics_allow_remote,
                           config.metrics_connections, config.metrics_timeout)


def _close_capture(capture: PcapWriter, name: str) -> None:
    """Flush the capture; a write that fails now (disk full) is an OsFailure."""
    try:
        capture.close()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OsFailure(f"cannot write capture {name}: {exc.strerror or exc}") from None


__all__ = [
    "BENCH_MODES",
    "RECEIVE_MODES",
    "BenchConfig",
    "ReceiveConfig",
    "build_runner",
    "make_app",
    "make_reporter",
    "open_metrics",
    "open_provider",
    "receive",
    "want_live",
]
