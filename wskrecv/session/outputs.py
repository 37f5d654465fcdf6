"""What a receive run writes to, as its options ask: the reporter (human lines, JSON lines
or the live dashboard), the --dump sink, the --metrics endpoint, and the capture's last
flush (a full disk is one error line)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from wskrecv.addresses import plain_host
from wskrecv.config import ReceiveConfig
from wskrecv.environment import Environment
from wskrecv.errors import OsFailure

if TYPE_CHECKING:
    from wskrecv.output.metrics import MetricsEndpoint
    from wskrecv.output.pcap import PcapWriter
    from wskrecv.runner import Reporter
    from wskrecv.stats.recorder import DumpRecord, DumpSink


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
    reporter: Reporter
    if want_live(env, config):
        from wskrecv.output.live import LiveReporter  # imports rich: only when needed

        also = (JsonReporter(env.stdout, quiet=config.quiet, per_stream=config.per_stream)
                if config.as_json else None)
        reporter = LiveReporter(env.stderr, also=also, dump=dump, color=env.color,
                                chart=config.chart, per_stream=config.per_stream,
                                timestamps=config.timestamps)
    elif config.as_json:
        reporter = JsonReporter(env.stdout, quiet=config.quiet, per_stream=config.per_stream)
    else:
        reporter = HumanReporter(env.stderr, quiet=config.quiet, dump=dump,
                                 per_stream=config.per_stream, timestamps=config.timestamps)
    if config.csv:  # rows on stdout beside the lines or the dashboard on stderr
        from wskrecv.output.csvrows import CsvReporter

        reporter = CsvReporter(reporter, env.stdout, per_stream=config.per_stream)
    return reporter


def dump_sink(reporter: Reporter, seq_format: str, bound: tuple) -> DumpSink:
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
                "tos": rec.tos,
                "ttl": rec.ttl,
                "data": data.hex(),
            }
        )

    return dump


def open_metrics(config: ReceiveConfig) -> Optional[MetricsEndpoint]:
    """The /metrics endpoint, bound but not yet serving; None without --metrics."""
    if config.metrics is None:
        return None
    from wskrecv.output.metrics import MetricsEndpoint  # imports prometheus_client

    return MetricsEndpoint(config.metrics, config.metrics_label, config.metrics_allow_remote,
                           config.metrics_connections, config.metrics_timeout)


def close_capture(capture: PcapWriter, name: str) -> None:
    """Flush the capture; a write that fails now (disk full) is an OsFailure."""
    try:
        capture.close()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OsFailure(f"cannot write capture {name}: {exc.strerror or exc}") from None


__all__ = ["close_capture", "dump_sink", "make_reporter", "open_metrics", "want_live"]
