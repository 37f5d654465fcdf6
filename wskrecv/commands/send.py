"""`wskrecv send`: the loopback traffic generator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional

import click

from wskrecv.commands.common import current_environment
from wskrecv.errors import ExitStatus
from wskrecv.payload import SEND_FORMATS
from wskrecv.signals import StopSignals

if TYPE_CHECKING:
    from wskrecv.generator import SendReport

DEFAULT_COUNT = 1000


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


def report_line(report: SendReport) -> str:
    from wskrecv.output.format import nbytes, si
    from wskrecv.output.human import format_address

    """The one-line human report."""
    where = format_address(report.destination, report.port)
    extras = []
    if report.reordered:
        extras.append(f"{report.reordered} reordered")
    if report.duplicated:
        extras.append(f"{report.duplicated} duplicated")
    if report.fragments:
        extras.append(f"{report.fragments} fragments")
    if report.bad_checksum:
        extras.append("bad UDP checksums")
    extra = f", {', '.join(extras)}" if extras else ""
    return (
        f"wskrecv send: sent {report.sent} datagrams, {nbytes(report.bytes)} to {where} in "
        f"{report.duration_s:.3f} s: {si(report.datagrams_per_s, 'dg/s')}, "
        f"{si(report.bits_per_s, 'bit/s')}{extra} ({report.reason})"
    )


@click.command()
@click.argument("host")
@click.argument("port", type=click.IntRange(1, 65535))
@click.option("--count", "-c", type=click.IntRange(min=0), default=None,
              help=f"Datagrams to send (distinct sequence numbers; duplicate copies come on "
              f"top). Default {DEFAULT_COUNT}, or unlimited with --duration.")
@click.option("--duration", "-t", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Stop after S seconds.")
@click.option("--rate", "-r", type=click.FloatRange(min=0), default=0, show_default=True,
              metavar="N", help="Datagrams per second; 0 sends as fast as possible.")
@click.option("--size", "-s", "size_text", default="64", show_default=True, metavar="SPEC",
              help="Payload bytes: N, a range LOW-HIGH (uniform, seeded by --seed), or a "
              "comma list of these used in turn (64,512,1400).")
@click.option("--seq-format", type=click.Choice(list(SEND_FORMATS)),
              default="wskrecv", show_default=True,
              help="Payload header: wskrecv (stream, sequence, send time, CRC-32), sockperf "
              "(sequence), none (the counting pattern only).")
@click.option("--stream", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Stream id written in wskrecv headers.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for size ranges (the same seed sends the same sizes).")
@click.option("--src", "sources", multiple=True, metavar="ADDR",
              help="Loopback source address (127.0.0.0/8 or ::1); repeat for several, used "
              "in turn. Bound as a real local address, or crafted in raw runs.")
@click.option("--sport", type=click.IntRange(0, 65535), default=0,
              help="Source port (default: any free one).")
@click.option("--ttl", type=click.IntRange(1, 255), default=None,
              help="IP TTL / IPv6 hop limit.")
@click.option("--reorder", metavar="EVERY[:N]",
              help="Send every EVERY-th datagram N positions late in its source's stream (N default 1).")
@click.option("--duplicate", metavar="EVERY[:N]",
              help="Send every EVERY-th datagram N extra times (N default 1).")
@click.option("--fragment", type=int, default=None, metavar="SIZE",
              help="Cut each datagram into IP fragments of SIZE payload bytes (a multiple "
              "of 8). Raw IP: root or CAP_NET_RAW.")
@click.option("--bad-checksum", is_flag=True,
              help="Write a wrong UDP checksum (the kernel drops these). Raw IP.")
@click.option("--raw", is_flag=True,
              help="Craft every packet with scapy and send on a raw IP socket. Raw IP.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON line on stdout.")
def send(host: str, port: int, size_text: str, sources: tuple[str, ...], reorder: Optional[str],
         duplicate: Optional[str], as_json: bool, count: Optional[int],
         **params: Any) -> int:
    """Send test datagrams to HOST PORT (loopback only).

    Builds each payload once and patches its sequence number and send time per datagram,
    writing to a socket held open; prints one report line (sent, bytes, rate). HOST must
    be a loopback address (127.0.0.0/8, ::1, or a name that resolves only to those).
    """
    # Imported here: loading the command line must not pay for the generator.
    from wskrecv.generator import (
        Sender,
        SendSpec,
        check_source,
        parse_pattern,
        parse_sizes,
        resolve_destination,
        validate,
    )

    destination = resolve_destination(host, port)
    if count is None and params["duration"] is None:
        count = DEFAULT_COUNT
    spec = validate(
        SendSpec(
            destination=destination,
            count=count,
            sizes=parse_sizes(size_text),
            sources=tuple(check_source(s, destination.family) for s in sources),
            reorder=parse_pattern("--reorder", reorder),
            duplicate=parse_pattern("--duplicate", duplicate),
            **params,
        )
    )
    env = current_environment()
    with Sender(spec) as sender, StopFlag().installed() as stop:
        report = sender.run(stop)
    if as_json:
        env.stdout.write(json.dumps({"type": "send", **report.to_dict()}, separators=(",", ":")) + "\n")
        env.stdout.flush()
    else:
        env.stderr.write(report_line(report) + "\n")
        env.stderr.flush()
    return int(ExitStatus.OK)

