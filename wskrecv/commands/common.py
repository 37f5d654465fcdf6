"""Options and plumbing shared by the receive commands (`listen`, `event`)."""

from __future__ import annotations

from typing import Any, Callable, Optional

import click
from click.core import ParameterSource

from wskrecv import payload
from wskrecv.environment import Environment, current_environment
from wskrecv.errors import ExitStatus, OsFailure, UsageError
from wskrecv.output import HumanReporter, JsonReporter
from wskrecv.output.pcap import PcapWriter, open_capture
from wskrecv.provider.activation import open_receive_socket
from wskrecv.provider.health import address_gone
from wskrecv.provider.udp import DEFAULT_BATCH
from wskrecv.runner import Limits, Runner
from wskrecv.stats import Recorder
from wskrecv.stats.hostudp import HostUdp
from wskrecv.stats.recorder import DumpSink
from wskrecv.stats.thresholds import Thresholds
from wskrecv.wsk import BufferPool, Verifier, WskDatagramSocket

DEFAULT_PORT = 5001


def socket_options(f: Callable) -> Callable:
    """--bind, --port, --rcvbuf, --fd."""
    f = click.option(
        "--fd",
        type=click.IntRange(min=0),
        default=None,
        metavar="N",
        help="Receive on descriptor N, an already bound UDP socket inherited from the parent, "
        "instead of binding one. Under systemd socket activation (LISTEN_FDS, LISTEN_PID) the "
        "passed socket is used without --fd.",
    )(f)
    f = click.option(
        "--rcvbuf",
        type=click.IntRange(min=1),
        default=None,
        metavar="BYTES",
        help="SO_RCVBUF to ask for. Default: 64 MiB, which the OS caps at net.core.rmem_max "
        "unless root. The size granted is reported.",
    )(f)
    f = click.option(
        "--port",
        "-p",
        type=click.IntRange(0, 65535),
        default=DEFAULT_PORT,
        show_default=True,
        help="UDP port; 0 picks a free one (reported at start).",
    )(f)
    f = click.option(
        "--bind",
        "-b",
        "bind_host",
        default="0.0.0.0",
        show_default=True,
        metavar="ADDR",
        help="Local address: 127.0.0.1, ::1, :: (dual-stack), a host name...",
    )(f)
    return f


def run_options(f: Callable) -> Callable:
    """Bounded runs, output, sequence analysis and thresholds."""
    options = [
        click.option("--count", "-c", type=click.IntRange(min=1), help="Stop after N datagrams."),
        click.option(
            "--duration", "-t", type=click.FloatRange(min=0, min_open=True), metavar="S",
            help="Stop after S seconds (exit 0).",
        ),
        click.option(
            "--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
            help="Deadline: stop after S seconds and exit 3 if --count datagrams (or, "
            "without --count, any datagram) have not arrived.",
        ),
        click.option(
            "--interval", "-i", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
            metavar="S", help="Seconds between interval reports.",
        ),
        click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout."),
        click.option(
            "--dump", is_flag=True,
            help="Print every datagram (source, length, truncation, payload hex).",
        ),
        click.option("--quiet", "-q", is_flag=True, help="Print only the summary."),
        click.option(
            "--pcap", type=click.Path(allow_dash=True), metavar="FILE",
            help="Write every datagram counted to FILE as a pcap capture (IP and UDP headers "
            "rebuilt, kernel timestamps); - writes to stdout (not with --json).",
        ),
        click.option(
            "--live/--no-live", default=None,
            help="Force the live dashboard on stderr on or off. Default: on when stderr is a "
            "terminal (not with --json, --dump, --quiet, CI=... or TERM=dumb).",
        ),
        click.option(
            "--seq-format", type=click.Choice(payload.FORMATS), default="auto",
            show_default=True,
            help="Payload header to read sequences and send times from: auto detects "
            "wskrecv's own header; sockperf and iperf3 (iperf3-64: 64-bit counters) only "
            "when asked; none skips sequence analysis.",
        ),
        click.option(
            "--max-loss", type=click.FloatRange(0, 100), metavar="PCT",
            help="Exit 4 if the run ends with more than PCT percent of sequences lost.",
        ),
        click.option(
            "--max-reorder", type=click.FloatRange(0, 100), metavar="PCT",
            help="Exit 4 if more than PCT percent of sequenced datagrams arrived reordered.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def want_live(env: Environment, params: dict[str, Any]) -> bool:
    """Whether to show the live dashboard: --live/--no-live, else only when stderr is a
    terminal someone watches (not CI, not TERM=dumb) and no other output owns it."""
    live = params.get("live")
    if live is not None:
        if live and params["quiet"]:
            reject("--live and --quiet contradict each other")
        return bool(live)
    if params["as_json"] or params["dump"] or params["quiet"] or env.ci:
        return False
    return env.stderr_isatty and env.environ.get("TERM", "") != "dumb"


def make_reporter(
    env: Environment, as_json: bool, quiet: bool, stdout_taken: bool = False, live: bool = False
) -> Any:
    """JSON lines on stdout, human lines on stderr (--dump lines on stdout unless
    `stdout_taken`, e.g. by `--pcap -`), or the live dashboard (with JSON lines too, if
    asked)."""
    dump = env.stderr if stdout_taken else env.stdout
    if live:
        from wskrecv.output.live import LiveReporter  # imports rich: only when needed

        json_reporter = JsonReporter(env.stdout, quiet=quiet) if as_json else None
        return LiveReporter(env.stderr, also=json_reporter, dump=dump, color=env.color)
    if as_json:
        return JsonReporter(env.stdout, quiet=quiet)
    return HumanReporter(env.stderr, quiet=quiet, dump=dump)


def _given_on_command_line(*names: str) -> bool:
    """Whether any of these parameters was set by the user rather than defaulted."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source is not ParameterSource.DEFAULT:
            return True
    return False


def _fan_out(*sinks: DumpSink) -> DumpSink:
    def fan_out(*args: Any) -> None:
        for sink in sinks:
            sink(*args)

    return fan_out


def build_runner(
    provider: Any,
    mode: str,
    make_app: Callable[[WskDatagramSocket, Recorder], Any],
    reporter: Any,
    limits: Limits,
    lock: Any = None,
    dump: Any = None,
    batch: int = DEFAULT_BATCH,
    pool: Optional[int] = None,
    seq_format: str = "auto",
    host: Optional[HostUdp] = None,
    thresholds: Optional[Thresholds] = None,
    health: Optional[Callable[[], Optional[str]]] = None,
) -> Runner:
    """The WSK model, the application and the runner on top of an open provider: what a
    receive command runs, and what `wskrecv bench` times (so both measure one code path,
    full statistics included). `pool` bounds the socket's indication buffers (None:
    unbounded); `batch` caps a read; `thresholds` judge the run's end (exit 4); `health`
    says, once per interval, why the socket can no longer receive (exit 1)."""
    sock = WskDatagramSocket(verifier=Verifier(), lock=lock, pool=BufferPool(pool))
    sock.bind(provider.local_address)
    recorder = Recorder(mode, dump=dump, seq_format=seq_format, host=host)
    app = make_app(sock, recorder)
    judge = thresholds.check if thresholds else None
    return Runner(provider, sock, app, recorder, reporter, limits, batch=batch, judge=judge,
                  health=health)


def run_receive_command(
    mode: str,
    params: dict[str, Any],
    make_app: Callable[[WskDatagramSocket, Recorder], Any],
    detail: str,
    extra_start: Optional[dict[str, Any]] = None,
    lock: Any = None,
    env: Optional[Environment] = None,
    batch: int = DEFAULT_BATCH,
    pool: Optional[int] = None,
) -> int:
    """Open the socket, build the model and the application, run, report. Returns the exit
    status; errors propagate as WskrecvError for `cli.main` to report.

    `batch` caps each read (and so each indication list); `pool` bounds the socket's
    indication buffers (None: unbounded)."""
    env = env or current_environment()
    pcap_path = params.get("pcap")
    pcap_stdout = pcap_path == "-"
    if pcap_stdout and params["as_json"]:
        reject("--pcap - and --json both write to standard output: write the capture to a file")
    reporter = make_reporter(env, params["as_json"], params["quiet"], stdout_taken=pcap_stdout,
                             live=want_live(env, params))
    sinks: list[DumpSink] = []
    if params["dump"]:
        def dump(
            data: bytes, remote: tuple, truncated: bool, ts: Optional[int], local: Optional[str]
        ) -> None:
            reporter.datagram(
                {
                    "src": remote[0],
                    "sport": remote[1],
                    "length": len(data),
                    "truncated": truncated,
                    "timestamp_ns": ts,
                    "data": data.hex(),
                }
            )

        sinks.append(dump)
    provider = open_receive_socket(
        params["bind_host"],
        params["port"],
        params["rcvbuf"],
        fd=params.get("fd"),
        address_given=_given_on_command_line("bind_host", "port"),
        batch=batch,
    )
    capture: Optional[PcapWriter] = None
    try:
        if pcap_path is not None:
            capture = open_capture(pcap_path, env.stdout_binary)
            sinks.append(capture.sink(provider.local_address, pcap_path))
        dump_sink = sinks[0] if len(sinks) == 1 else _fan_out(*sinks) if sinks else None
        limits = Limits(
            count=params["count"],
            duration=params["duration"],
            timeout=params["timeout"],
            interval=params["interval"],
        )
        runner = build_runner(
            provider, mode, make_app, reporter, limits, lock=lock, dump=dump_sink,
            batch=batch, pool=pool, seq_format=params["seq_format"], host=HostUdp(),
            thresholds=Thresholds(params["max_loss"], params["max_reorder"]),
            health=lambda: address_gone(provider.local_address),
        )
        host, port = provider.local_address[:2]
        info = {
            "mode": mode,
            "address": host,
            "port": port,
            "rcvbuf": provider.rcvbuf,
            "rcvbuf_requested": provider.rcvbuf_requested,
            "reader": provider.reader,
            "detail": detail,
            "seq_format": params["seq_format"],
            **(extra_start or {}),
        }
        if provider.inherited_fd is not None:
            info["fd"] = provider.inherited_fd
            info["detail"] += f", inherited fd {provider.inherited_fd}"
        result = runner.run(info)
    finally:
        try:
            if capture is not None:
                _close_capture(capture, pcap_path)
        finally:
            provider.close()
            close = getattr(reporter, "close", None)
            if close is not None:
                close()  # the live display gives the terminal back, whatever happened
    if result.error:
        raise OsFailure(result.error)  # after the summary, like any error: one line, exit 1
    if result.threshold:
        env.stderr.write(f"wskrecv: threshold exceeded: {result.threshold}\n")
        env.stderr.flush()
    return int(result.status)


def _close_capture(capture: PcapWriter, name: str) -> None:
    """Flush the capture; a write that fails now (disk full) is an OsFailure."""
    try:
        capture.close()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OsFailure(f"cannot write capture {name}: {exc.strerror or exc}") from None


def reject(message: str) -> None:
    """A usage error found after parsing (conflicting options)."""
    raise UsageError(message)


__all__ = [
    "ExitStatus",
    "build_runner",
    "make_reporter",
    "reject",
    "run_options",
    "run_receive_command",
    "socket_options",
]
