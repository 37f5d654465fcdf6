"""Options shared by the receive commands (`listen`, `event`), and what every command
needs from click: the running command's Environment, whether a parameter was given.

The defaults come from `wskrecv.config.ReceiveConfig`, their one place. Only click and
the program's configuration here: `--help` and option errors must not import the receive
machinery.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Optional

import click
from click.core import ParameterSource

from wskrecv import payload, units
from wskrecv.commands import numeric
from wskrecv.commands.inject import check_faults, fault_options
from wskrecv.config import CHARTS, ReceiveConfig
from wskrecv.environment import Environment
from wskrecv.errors import UsageError

DEFAULTS = ReceiveConfig()


def flag(field: str, spelled: Optional[dict[str, str]] = None) -> str:
    """The option that sets configuration `field` ("max_loss": "--max-loss"; `spelled`
    lists the fields whose option is spelled otherwise): the lower layers name fields, the
    command line words them as its flags."""
    return (spelled or {}).get(field) or "--" + field.replace("_", "-")
IPERF3_PORT = 5201  # wskrecv.iperf3.protocol.DEFAULT_PORT (--help imports no more than this)
IPERF3_FORMATS = ("iperf3", "iperf3-64")
TOP_STREAMS_SHOWN = 10  # output.streamtext.SUMMARY_STREAMS (--help imports no more than this)
MAX_STREAMS_LIMIT = 65536  # 1 GiB of sequence windows


def socket_options(f: Callable) -> Callable:
    """--bind, --port, --rcvbuf, --fd, and the multicast and device options."""
    f = click.option(
        "--bind-dev", metavar="NAME",
        help="Receive only what arrives on network device NAME (SO_BINDTODEVICE, as "
        "iperf3 --bind-dev; root or CAP_NET_RAW).",
    )(f)
    f = click.option(
        "--iface", metavar="NAME|INDEX",
        help="The interface the --join groups are joined on (default: the one the route "
        "to the group uses).",
    )(f)
    f = click.option(
        "--join-source", multiple=True, metavar="ADDR",
        help="Source-specific multicast: receive the --join groups from sender ADDR only "
        "(repeatable; each source applies to the groups of its family).",
    )(f)
    f = click.option(
        "--join", multiple=True, metavar="GROUP",
        help="Join multicast GROUP (IPv4 224.0.0.0/4 or IPv6 ff00::/8; repeatable). Bind "
        "the group's port with --port; IPv6 groups need an IPv6 socket (the default :: "
        "takes both).",
    )(f)
    f = click.option(
        "--fd",
        type=numeric.FD,
        default=None,
        metavar="N",
        help="Receive on descriptor N, an already bound UDP socket inherited from the parent, "
        "instead of binding one. Under systemd socket activation (LISTEN_FDS, LISTEN_PID) the "
        "passed socket is used without --fd. Its drops from before the run are reported "
        "apart (kernel_drops_before_run), not as kernel drops.",
    )(f)
    f = click.option(
        "--rcvbuf",
        type=numeric.RCVBUF,
        default=None,
        metavar="BYTES",
        help="SO_RCVBUF to ask for (K, M, KiB, MiB...; at most 1 GiB). Default: 64 MiB, "
        "which the OS caps at net.core.rmem_max unless root. The size granted is reported.",
    )(f)
    f = click.option(
        "--port",
        "-p",
        type=numeric.PORT,
        default=DEFAULTS.port,
        show_default=True,
        help="UDP port; 0 picks a free one (reported at start).",
    )(f)
    f = click.option(
        "--bind",
        "-b",
        "bind_host",
        default=DEFAULTS.bind_host,
        metavar="ADDR",
        help="Local address: 127.0.0.1, ::1 or [::1], 0.0.0.0 (IPv4 only), a host name; "
        "ADDR:PORT or [ADDR]:PORT sets the port too. Default: :: with IPv4 too "
        "(dual-stack), or 0.0.0.0 where the host has no IPv6.",
    )(f)
    return f


MAX_WORKERS = 1024
RCV_TIMEOUT = numeric.number(units.DURATION, 0.1, 86400)  # a day: longer is never idle
METRICS_LINGER = numeric.number(units.DURATION, 0, 3600)  # an hour covers any scrape interval


class WorkersType(click.ParamType):
    """`--workers N|auto`: a positive count, or the number of usable CPUs."""

    name = "N|auto"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            n = value
        elif str(value).strip().lower() == "auto":
            try:
                return len(os.sched_getaffinity(0))
            except (AttributeError, OSError):
                return os.cpu_count() or 1
        else:
            try:
                n = int(str(value))
            except ValueError:
                self.fail(f"{value!r} is not a number of workers or 'auto'", param, ctx)
        if not 1 <= n <= MAX_WORKERS:
            self.fail(f"{n} workers: give 1 to {MAX_WORKERS}, or auto", param, ctx)
        return n


def scale_options() -> list[Callable]:
    """--workers, --cpu-affinity and the Prometheus endpoint (--metrics...)."""
    return [
        click.option(
            "--workers", type=WorkersType(), default=None, metavar="N|auto",
            help="Receive with N processes, each with its own socket bound to the address "
            "with SO_REUSEPORT (the kernel spreads flows over them by their addresses and "
            "ports), merged into one report. auto: one per usable CPU. Needs an address "
            "(not --fd; socket activation must pass N sockets).",
        ),
        click.option(
            "--cpu-affinity", is_flag=True,
            help="With --workers: pin worker i to the i-th usable CPU.",
        ),
        click.option(
            "--metrics", metavar="[ADDR:]PORT",
            help="Serve Prometheus metrics at http://ADDR:PORT/metrics (ADDR defaults to "
            "127.0.0.1; port 0 picks a free one, reported at start).",
        ),
        click.option(
            "--metrics-label", multiple=True, metavar="KEY=VALUE",
            help="A label on every metric (repeatable), e.g. site=ams link=uplink1.",
        ),
        click.option(
            "--metrics-linger", type=METRICS_LINGER, default=DEFAULTS.metrics_linger,
            show_default=True, metavar="S",
            help="Keep /metrics up S seconds after the run so a last scrape sees the final "
            "counts (with --metrics); Ctrl-C ends it early.",
        ),
        click.option(
            "--metrics-allow-remote", is_flag=True,
            help="Allow --metrics on a non-loopback address (metrics reveal the traffic: "
            "sources, rates, loss).",
        ),
        click.option(
            "--metrics-connections", type=numeric.number(units.INTEGER, 1, 1024),
            default=DEFAULTS.metrics_connections, show_default=True, metavar="N",
            help="With --metrics: connections served at once, a thread each; when all are "
            "taken, the oldest is closed to make room.",
        ),
        click.option(
            "--metrics-timeout", type=numeric.number(units.DURATION, 0.1, 3600),
            default=DEFAULTS.metrics_timeout, show_default=True, metavar="S",
            help="With --metrics: close a connection silent for S seconds (or 500ms, 1m).",
        ),
    ]


def analysis_options() -> list[Callable]:
    """Sequence analysis, per-stream figures and thresholds: the receive commands' and
    `analyze`'s."""
    return [
        click.option(
            "--seq-format", type=click.Choice(payload.FORMATS), default=DEFAULTS.seq_format,
            show_default=True,
            help="Payload header to read sequences and send times from: auto detects "
            "wskrecv's own header; sockperf and iperf3 (iperf3-64: 64-bit counters) only "
            "when asked; none skips sequence analysis.",
        ),
        click.option(
            "--per-stream", is_flag=True,
            help="Every stream's figures (a stream: source address:port and the header's "
            "stream id): a line per stream after each interval line, a `streams` array in "
            "JSON intervals, and every stream in the summary's table (default: the worst "
            f"{TOP_STREAMS_SHOWN} by loss).",
        ),
        click.option(
            "--max-streams", type=numeric.number(units.INTEGER, 1, MAX_STREAMS_LIMIT),
            default=DEFAULTS.max_streams, show_default=True, metavar="N",
            help="Streams tracked at once (each keeps a 16 KiB sequence window). When the "
            "table is full the least active half is retired: their counts stay in the "
            "totals and in `streams_retired`, and they are counted as evicted.",
        ),
        click.option(
            "--max-loss", type=numeric.PERCENT, metavar="PCT",
            help="Exit 4 if the run ends with more than PCT percent of sequences lost.",
        ),
        click.option(
            "--max-reorder", type=numeric.PERCENT, metavar="PCT",
            help="Exit 4 if more than PCT percent of sequenced datagrams arrived reordered.",
        ),
    ]


def run_options(f: Callable) -> Callable:
    """Bounded runs, output, sequence analysis and thresholds."""
    options = [
        click.option("--count", "-c", type=numeric.COUNT, metavar="N",
                     help="Stop after N datagrams (100k, 1M...)."),
        click.option(
            "--duration", "-t", type=numeric.RUN_SECONDS, metavar="S",
            help="Stop after S seconds (or 500ms, 5m, 1h; at most 30 days); exit 0.",
        ),
        click.option(
            "--timeout", type=numeric.RUN_SECONDS, metavar="S",
            help="Deadline, in seconds like --duration: stop then and exit 3 if --count "
            "datagrams (or, without --count, any datagram) have not arrived.",
        ),
        click.option(
            "--interval", "-i", type=numeric.INTERVAL, default=DEFAULTS.interval,
            show_default=True, metavar="S", help="Seconds between interval reports (0.01 "
            "to 3600); 0 turns them off.",
        ),
        click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout."),
        click.option(
            "--csv", is_flag=True,
            help="Interval rows on stdout in iperf2's -y C layout (no header; timestamp, "
            "local address and port, remote address and port, id, interval, bytes, bits/s, "
            "jitter ms, lost, total, lost %, out of order): one row for all the traffic (id "
            "-1), with --per-stream one per stream, and the same for the whole run at the "
            "end. Human lines stay on stderr. Not with --json.",
        ),
        click.option(
            "--timestamps", type=TIMESTAMPS, metavar="[=FORMAT]",
            help="Begin every human line (stderr, --dump) with the local time, as iperf3 "
            f"--timestamps does: strftime FORMAT, default {TIMESTAMP_FORMAT.strip()!r} "
            "(the locale's date and time). The format only as --timestamps=FORMAT.",
        ),
        click.option(
            "--tos-ttl", is_flag=True,
            help="Ask the kernel for each packet's TOS byte (DSCP and ECN; IPv6: traffic "
            "class) and TTL (IPv6: hop limit), and count the datagrams per value: in the "
            "summary, JSON (tos, ttl) and --dump lines (--dump asks for them too). Off by "
            "default: two control messages more per datagram.",
        ),
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
            "terminal (not with --json, --dump, --quiet, CI=... or TERM=dumb). Drawn by a "
            "process of its own; if it dies, the terminal is restored and plain lines follow.",
        ),
        click.option(
            "--chart", type=click.Choice(CHARTS), default=DEFAULTS.chart, show_default=True,
            help="What the dashboard charts per interval: datagrams/s, bits/s or loss (%); "
            "auto: the run's own unit (bits/s for an iperf3 server, else datagrams/s), "
            "with loss beside it once any is seen.",
        ),
        *analysis_options(),
        *scale_options(),
        click.option(
            "--iperf3", is_flag=True,
            help="Also be an iperf3 server for UDP tests: accept iperf3's control connection "
            f"on TCP at the same port (default {IPERF3_PORT} with this option), receive its "
            "streams here, and send the client wskrecv's loss, jitter and packet counts. "
            "Tests run one after another; reverse and TCP tests are refused.",
        ),
        click.option(
            "--one-off", is_flag=True,
            help="With --iperf3: end the run after the first iperf3 test (like iperf3 -s -1).",
        ),
        click.option(
            "--rcv-timeout", type=RCV_TIMEOUT, default=DEFAULTS.rcv_timeout, show_default=True,
            metavar="S",
            help="With --iperf3: end a running test whose streams bring no datagram for S "
            "seconds (or 500ms, 2m; 0.1 s to 1 day), and tell its client \"idle timeout for "
            "receiving data\", as iperf3 --rcv-timeout does (iperf3 takes milliseconds).",
        ),
        *fault_options(),
    ]
    for option in reversed(options):
        f = option(f)
    return f


TIMESTAMP_FORMAT = "%c "  # iperf3's TIMESTAMP_FORMAT (iperf.h)
MAX_FORMAT = 200


class TimestampsType(click.ParamType):
    """--timestamps' strftime format: checked once (it formats the time now), bounded."""

    name = "format"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        text = str(value)
        if len(text) > MAX_FORMAT:
            self.fail(f"a format of {len(text)} characters: at most {MAX_FORMAT}", param, ctx)
        try:
            time.strftime(text)
        except (ValueError, UnicodeError) as exc:
            self.fail(f"{text!r} is not a strftime format ({exc})", param, ctx)
        return text


TIMESTAMPS = TimestampsType()


class ReceiveCommand(click.Command):
    """A receive command. `--timestamps` takes a format only as `--timestamps=FORMAT`, as
    iperf3's does (getopt's optional argument): a bare `--timestamps` means the default
    format, and the word after it stays what it is (`wskrecv run --timestamps client.py`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                out += args[i:]
                break
            out.append(f"--timestamps={TIMESTAMP_FORMAT}" if arg == "--timestamps" else arg)
        return super().parse_args(ctx, out)


def bind_address(params: dict[str, Any]) -> tuple[Optional[str], int]:
    """--bind and --port as (host, port): a port written in --bind ([::1]:9000) counts
    as --port; giving both differently is a usage error. None: the default bind."""
    from wskrecv.addresses import split_host_port

    text = params.get("bind_host")
    port = params["port"]
    if text is None:
        return None, port
    host, bind_port = split_host_port(text, "--bind")
    if bind_port is not None and bind_port != port:
        if given_on_command_line("port"):
            reject(f"--bind {text} names port {bind_port} and --port is {port}: give one")
        port = bind_port
    return host, port


def check_receive(config: ReceiveConfig) -> None:
    """Usage errors click cannot see: options that contradict each other."""
    if config.hold is not None and not (config.pend or config.keep_every):
        reject("--hold needs --pend or --keep-every (only retained lists are held)")
    if config.keep_every and config.pend:
        reject("--keep-every and --pend both decide what the callback retains: use one")
    if config.pcap == "-" and config.as_json:
        reject("--pcap - and --json both write to standard output: write the capture to a file")
    if config.csv:
        for given, other in ((config.as_json, "--json"), (config.pcap == "-", "--pcap -"),
                             (config.dump and config.pcap != "-", "--dump")):
            if given:
                reject(f"--csv and {other} both write to standard output: use one")
    if config.live and config.quiet:
        reject("--live and --quiet contradict each other")
    if config.mode == "client" and config.workers is not None:
        reject("--workers runs the built-in receivers in several processes: `run` hosts one "
               "client on one socket")
    if config.cpu_affinity and config.workers is None:
        reject("--cpu-affinity pins workers: it needs --workers")
    if config.workers is not None and config.iperf3:
        reject("--iperf3 serves its tests through one receiver: not with --workers")
    if config.workers is not None and config.join:
        reject("--join with --workers: the kernel gives every worker's socket its own copy "
               "of each multicast datagram (SO_REUSEPORT spreads unicast only)")
    if config.workers is not None and config.dump:
        reject("--dump prints every datagram as it comes: use it without --workers")
    if config.workers is not None and config.fd is not None:
        reject("--workers binds one socket per worker (SO_REUSEPORT) on an address: it "
               "cannot share the single --fd socket; give --bind/--port, or pass one socket "
               "per worker by socket activation (LISTEN_FDS)")
    if config.metrics is None:
        for given, flag in ((config.metrics_label, "--metrics-label"),
                            (config.metrics_linger != DEFAULTS.metrics_linger, "--metrics-linger"),
                            (config.metrics_allow_remote, "--metrics-allow-remote"),
                            (config.metrics_connections != DEFAULTS.metrics_connections,
                             "--metrics-connections"),
                            (config.metrics_timeout != DEFAULTS.metrics_timeout,
                             "--metrics-timeout")):
            if given:
                reject(f"{flag} needs --metrics")
    if config.one_off and not config.iperf3:
        reject("--one-off needs --iperf3")
    if config.rcv_timeout != DEFAULTS.rcv_timeout and not config.iperf3:
        reject("--rcv-timeout needs --iperf3")
    if config.iperf3 and config.seq_format not in IPERF3_FORMATS:
        reject(f"--iperf3 reads iperf3's payload header: drop --seq-format {config.seq_format}")
    check_faults(config)


def given_on_command_line(*names: str) -> bool:
    """Whether any of these parameters was set by the user rather than defaulted."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source is not ParameterSource.DEFAULT:
            return True
    return False


def reject(message: str) -> None:
    """A usage error found after parsing (conflicting options)."""
    raise UsageError(message)


def current_environment() -> Environment:
    """The Environment of the running command (set up by the `wskrecv` group), or a
    fresh one when called outside a click context."""
    ctx = click.get_current_context(silent=True)
    env = ctx.find_object(Environment) if ctx is not None else None
    return env if env is not None else Environment()


__all__ = [
    "analysis_options",
    "DEFAULTS",
    "bind_address",
    "WorkersType",
    "IPERF3_FORMATS",
    "IPERF3_PORT",
    "check_receive",
    "current_environment",
    "given_on_command_line",
    "reject",
    "run_options",
    "socket_options",
]
