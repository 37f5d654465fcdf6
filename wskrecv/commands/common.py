"""Options and plumbing shared by the receive commands (`listen`, `event`)."""

from __future__ import annotations

from typing import Any, Callable, Optional

import click

from wskrecv.environment import Environment
from wskrecv.errors import ExitStatus, UsageError
from wskrecv.output import HumanReporter, JsonReporter
from wskrecv.provider import open_udp
from wskrecv.provider.udp import DEFAULT_BATCH
from wskrecv.runner import Limits, Runner
from wskrecv.stats import Recorder
from wskrecv.wsk import BufferPool, Verifier, WskDatagramSocket

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
    """Bounded runs and output."""
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
    ]
    for option in reversed(options):
        f = option(f)
    return f


def make_reporter(env: Environment, as_json: bool, quiet: bool) -> Any:
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
    batch: int = DEFAULT_BATCH,
    pool: Optional[int] = None,
) -> int:
    """Open the socket, build the model and the application, run, report. Returns the exit
    status; errors propagate as WskrecvError for `cli.main` to report.

    `batch` caps each read (and so each indication list); `pool` bounds the socket's
    indication buffers (None: unbounded)."""
    env = env or Environment()
    reporter = make_reporter(env, params["as_json"], params["quiet"])
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
    provider = open_udp(params["bind_host"], params["port"], params["rcvbuf"], batch=batch)
    try:
        verifier = Verifier()
        sock = WskDatagramSocket(verifier=verifier, lock=lock, pool=BufferPool(pool))
        sock.bind(provider.local_address)
        recorder = Recorder(mode, dump=dump)
        app = make_app(sock, recorder)
        limits = Limits(
            count=params["count"],
            duration=params["duration"],
            timeout=params["timeout"],
            interval=params["interval"],
        )
        runner = Runner(provider, sock, app, recorder, reporter, limits, batch=batch)
        host, port = provider.local_address[:2]
        info = {
            "mode": mode,
            "address": host,
            "port": port,
            "rcvbuf": provider.rcvbuf,
            "rcvbuf_requested": provider.rcvbuf_requested,
            "reader": provider.reader,
            "detail": detail,
            **(extra_start or {}),
        }
        result = runner.run(info)
    finally:
        provider.close()
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
