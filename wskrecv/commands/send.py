"""`wskrecv send`: the loopback traffic generator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional

import click

from wskrecv import units
from wskrecv.commands import numeric
from wskrecv.commands.common import current_environment, flag
from wskrecv.commands.numeric import number
from wskrecv.errors import ExitStatus, OsFailure, UsageError
from wskrecv.payload import SEND_FORMATS
from wskrecv.signals import StopSignals

if TYPE_CHECKING:
    from wskrecv.generator import SendReport

DEFAULT_COUNT = 1000
# The SendSpec fields whose option is spelled otherwise than "--" + the field, dashed.
_SPELLED = {"sizes": "--size", "sources": "--src"}


class TosType(click.ParamType):
    """--tos: a TOS byte, as a number or a DSCP name (wskrecv.tos.parse_tos)."""

    name = "tos"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            tos: Optional[int] = value if 0 <= value <= 255 else None
        else:
            from wskrecv.tos import parse_tos

            tos = parse_tos(str(value))
        if tos is None:
            self.fail(f"{value!r} is not a TOS byte (0-255, 0x..) or a DSCP name "
                      "(EF, AF11-AF43, CS0-CS7, LE, VOICE-ADMIT; +ECN: EF+CE)", param, ctx)
        return tos


TOS = TosType()


def send_flag(field: str) -> str:
    """The option that sets SendSpec `field`: what the generator's errors are worded with."""
    return flag(field, _SPELLED)


class StopFlag:
    """Set by SIGINT/SIGTERM; the send loop polls it between batches. A second Ctrl-C
    exits at once (130), as for the receive commands (signals.StopSignals)."""

    def __init__(self) -> None:
        self.reason: Optional[str] = None

    def __call__(self) -> Optional[str]:
        return self.reason

    def _stop(self, reason: str) -> None:
        self.reason = reason

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        with StopSignals(self._stop).installed():
            yield self


def report_where(report: SendReport) -> str:
    from wskrecv.output.format import address

    return address(report.destination, report.port)


def report_line(report: SendReport) -> str:
    """The one-line human report."""
    from wskrecv.output.format import nbytes, plural, si

    where = report_where(report)
    extras = []
    if report.reordered:
        extras.append(f"{report.reordered} reordered")
    if report.duplicated:
        extras.append(f"{report.duplicated} duplicated")
    if report.fragments:
        extras.append(f"{report.fragments} fragments")
    if report.bad_checksum:
        extras.append("bad UDP checksums")
    if report.refused:
        extras.append(f"{report.refused} refused (nothing listening?)")
    extra = f", {', '.join(extras)}" if extras else ""
    return (
        f"wskrecv send: sent {plural(report.sent, 'datagram')}, {nbytes(report.bytes)} to {where} in "
        f"{report.duration_s:.3f} s: {si(report.datagrams_per_s, 'dg/s')}, "
        f"{si(report.bits_per_s, 'bit/s')}{extra} ({report.reason})"
    )


@click.command()
@click.argument("host")
@click.argument("port", type=number(units.INTEGER, 1, 65535), required=False, metavar="[PORT]")
@click.option("--count", "-c", type=number(units.COUNT, 0, units.MAX_COUNT), default=None,
              metavar="N",
              help=f"Datagrams to send from each source (distinct sequence numbers; duplicate "
              f"copies come on top). Default {DEFAULT_COUNT}, or unlimited with --duration.")
@click.option("--duration", "-t", type=numeric.RUN_SECONDS, metavar="S",
              help="Stop after S seconds (or 500ms, 5m, 1h; at most 30 days).")
@click.option("--rate", "-r", type=number(units.RATE, 0, units.MAX_RATE), default=None,
              metavar="N", help="Datagrams per second from each source (50k, 1M; at most "
              "100M); 0 or none sends as fast as possible.")
@click.option("--bitrate", "-b", type=number(units.BITRATE, 1, units.MAX_BITRATE),
              default=None, metavar="BITS",
              help="Payload bits per second from each source instead of --rate (10M, 1G; "
              "iperf3's -b): the rate is BITS / (8 x the mean --size).")
@click.option("--size", "-s", "size_text", default="64", show_default=True, metavar="SPEC",
              help="Payload bytes: N, a range LOW-HIGH (uniform, seeded by --seed), or a "
              "comma list of these used in turn (64,512,1400).")
@click.option("--seq-format", type=click.Choice(list(SEND_FORMATS)),
              default="wskrecv", show_default=True,
              help="Payload header: wskrecv (stream, sequence, send time, CRC-32), sockperf "
              "(sequence), none (the counting pattern only).")
@click.option("--stream", type=number(units.INTEGER, 0, 2**32 - 1), default=0,
              show_default=True, metavar="N", help="Stream id written in wskrecv headers.")
@click.option("--seed", type=number(units.INTEGER, 0, 2**64 - 1), default=0,
              show_default=True, metavar="N",
              help="Seed for size ranges (the same seed sends the same sizes).")
@click.option("--src", "sources", multiple=True, metavar="ADDR",
              help="Loopback source address (127.0.0.0/8, ::1 or [::1]); repeat for several, "
              "which take turns, each sending --count. Bound as a real local address, or "
              "crafted in raw runs.")
@click.option("--sport", type=number(units.INTEGER, 0, 65535), default=0, metavar="PORT",
              help="Source port (default: any free one).")
@click.option("--ttl", type=number(units.INTEGER, 1, 255), default=None, metavar="N",
              help="IP TTL / IPv6 hop limit.")
@click.option("--tos", type=TOS, default=None, metavar="TOS",
              help="IP TOS byte / IPv6 traffic class: 0-255 (0xb8...), or a DSCP name (EF, "
              "AF41, CS1, LE...) with an optional ECN codepoint (EF+CE, AF11+ECT(0)).")
@click.option("--reorder", metavar="EVERY[:N]",
              help="Send every EVERY-th datagram N positions late in its source's stream (N default 1).")
@click.option("--duplicate", metavar="EVERY[:N]",
              help="Send every EVERY-th datagram N extra times (N default 1).")
@click.option("--fragment", type=number(units.SIZE, 1, 65528), default=None, metavar="SIZE",
              help="Cut each datagram into IP fragments of SIZE payload bytes (a multiple "
              "of 8). Raw IP: root or CAP_NET_RAW.")
@click.option("--bad-checksum", is_flag=True,
              help="Write a wrong UDP checksum (the kernel drops these). Raw IP.")
@click.option("--raw", is_flag=True,
              help="Craft every packet with scapy and send on a raw IP socket. Raw IP.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON line on stdout.")
def send(host: str, port: Optional[int], size_text: str, sources: tuple[str, ...],
         reorder: Optional[str], duplicate: Optional[str], as_json: bool, count: Optional[int],
         rate: Optional[float], bitrate: Optional[float], **params: Any) -> int:
    """Send test datagrams to HOST PORT (loopback only).

    Builds each payload once and patches its sequence number and send time per datagram,
    writing to a socket held open; prints one report line (sent, bytes, rate, and how many
    were refused: an ICMP port unreachable says nothing listens). HOST must be a loopback
    address (127.0.0.0/8, ::1, [::1], or a name that resolves only to those); HOST may
    carry the port instead (127.0.0.1:5001, [::1]:5001).
    """
    # Imported here: loading the command line must not pay for the generator.
    from wskrecv.addresses import split_host_port
    from wskrecv.generator import (
        Sender,
        SendSpec,
        SpecError,
        check_source,
        mean_size,
        parse_pattern,
        parse_sizes,
        resolve_destination,
        validate,
    )

    host, host_port = split_host_port(host, "HOST")
    if host_port is not None and port is not None and host_port != port:
        raise UsageError(f"HOST names port {host_port} and PORT is {port}: give one")
    port = port if port is not None else host_port
    if port is None:
        raise UsageError("missing PORT (give HOST PORT, or HOST:PORT)")
    if rate is not None and bitrate is not None:
        raise UsageError("--rate and --bitrate both set the rate: give one")
    from wskrecv.generator.raw import RawPrivilegeError

    destination = resolve_destination(host, port)
    if count is None and params["duration"] is None:
        count = DEFAULT_COUNT
    streams = max(1, len(sources))
    try:
        sizes = parse_sizes(size_text)
        per_source = bitrate / (8 * mean_size(sizes)) if bitrate is not None else (rate or 0.0)
        spec = validate(
            SendSpec(
                destination=destination,
                # --count and --rate are per source: the sources take turns.
                count=count * streams if count is not None else None,
                rate=per_source * streams,
                sizes=sizes,
                sources=tuple(check_source(split_host_port(s, "--src")[0], destination.family)
                              for s in sources),
                reorder=parse_pattern("reorder", reorder),
                duplicate=parse_pattern("duplicate", duplicate),
                **params,
            )
        )
    except SpecError as exc:
        raise UsageError(exc.words(send_flag)) from None
    env = current_environment()
    try:
        with Sender(spec) as sender, StopFlag().installed() as stop:
            report = sender.run(stop)
    except RawPrivilegeError as exc:
        raise OsFailure(exc.words(send_flag)) from None
    if as_json:
        env.stdout.write(json.dumps({"type": "send", **report.to_dict()}, separators=(",", ":")) + "\n")
        env.stdout.flush()
    else:
        env.stderr.write(report_line(report) + "\n")
        env.stderr.flush()
    if report.all_refused:
        env.stderr.write(f"wskrecv: error: every datagram was refused: nothing listens on "
                         f"{report_where(report)}\n")
        env.stderr.flush()
        return int(ExitStatus.ERROR)
    return int(ExitStatus.OK)

