"""Options and plumbing shared by the receive commands (`listen`, `event`)."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

import click

from wskrecv import payload
from wskrecv.environment import Environment
from wskrecv.errors import ExitStatus, UsageError
from wskrecv.output import HumanReporter, JsonReporter
from wskrecv.provider import open_udp
from wskrecv.runner import Limits, Runner
from wskrecv.stats import Recorder
from wskrecv.stats.hostudp import HostUdp
from wskrecv.stats.thresholds import Thresholds
from wskrecv.wsk import Verifier, WskDatagramSocket

DEFAULT_PORT = 5001


def socket_options(f: Callable) -> Callable:
    """--bind, --port, --rcvbuf."""
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
    return env.stderr_isatty and os.environ.get("TERM", "") != "dumb"


def make_reporter(env: Environment, as_json: bool, quiet: bool, live: bool = False) -> Any:
    """JSON lines, plain lines, or the live dashboard (with JSON lines too, if asked)."""
    if live:
        from wskrecv.output.live import LiveReporter  # imports rich: only when needed

        json_reporter = JsonReporter(env.stdout, quiet=quiet) if as_json else None
        return LiveReporter(env.stderr, also=json_reporter, dump=env.stdout)
    if as_json:
        return JsonReporter(env.stdout, quiet=quiet)
    return HumanReporter(env.stderr, quiet=quiet, dump=env.stdout)


def run_receive_command(
    mode: str,
    params: dict[str, Any],
    make_app: Callable[[WskDatagramSocket, Recorder], Any],
    detail: str,
    extra_start: Optional[dict[str, Any]] = None,
    lock: Any = None,
    env: Optional[Environment] = None,
) -> int:
    """Open the socket, build the model and the application, run, report. Returns the exit
    status; errors propagate as WskrecvError for `cli.main` to report."""
    env = env or Environment()
    reporter = make_reporter(env, params["as_json"], params["quiet"], want_live(env, params))
    dump = None
    if params["dump"]:
        def dump(data: bytes, remote: tuple, truncated: bool, ts: Optional[int]) -> None:
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
    provider = open_udp(params["bind_host"], params["port"], params["rcvbuf"])
    try:
        verifier = Verifier()
        sock = WskDatagramSocket(verifier=verifier, lock=lock)
        sock.bind(provider.local_address)
        recorder = Recorder(mode, dump=dump, seq_format=params["seq_format"], host=HostUdp())
        app = make_app(sock, recorder)
        limits = Limits(
            count=params["count"],
            duration=params["duration"],
            timeout=params["timeout"],
            interval=params["interval"],
        )
        thresholds = Thresholds(params["max_loss"], params["max_reorder"])
        runner = Runner(
            provider, sock, app, recorder, reporter, limits,
            judge=thresholds.check if thresholds else None,
        )
        host, port = provider.local_address[:2]
        info = {
            "mode": mode,
            "address": host,
            "port": port,
            "rcvbuf": provider.rcvbuf,
            "rcvbuf_requested": provider.rcvbuf_requested,
            "detail": detail,
            "seq_format": params["seq_format"],
            **(extra_start or {}),
        }
        result = runner.run(info)
    finally:
        provider.close()
        close = getattr(reporter, "close", None)
        if close is not None:
            close()  # the live display gives the terminal back, whatever happened
    if result.threshold:
        env.stderr.write(f"wskrecv: threshold exceeded: {result.threshold}\n")
        env.stderr.flush()
    return int(result.status)


def reject(message: str) -> None:
    """A usage error found after parsing (conflicting options)."""
    raise UsageError(message)


__all__ = [
    "ExitStatus",
    "make_reporter",
    "reject",
    "run_options",
    "run_receive_command",
    "socket_options",
]
