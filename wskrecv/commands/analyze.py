"""`wskrecv analyze`: captures (pcap, pcapng) counted as a live run counts."""

from __future__ import annotations

from typing import Any, Callable, Optional

import click

from wskrecv.commands import numeric
from wskrecv.commands.common import DEFAULTS, analysis_options, current_environment, flag


def analysis_options_applied(f: Callable) -> Callable:
    """--seq-format, --per-stream, --max-streams and the thresholds, as the receive
    commands have them."""
    for option in reversed(analysis_options()):
        f = option(f)
    return f



@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--port", "-p", type=numeric.PORT, default=0, metavar="PORT",
              help="Only datagrams to this UDP destination port. Default: every UDP datagram.")
@click.option("--src", "sources", multiple=True, metavar="ADDR[/PREFIX]|ADDR:PORT",
              help="Only datagrams from this address, network (10.0.0.0/8, fd00::/8) or "
              "address and port ([::1]:4000); repeatable: any of them.")
@click.option("--interval", "-i", type=numeric.INTERVAL, default=DEFAULTS.interval,
              show_default=True, metavar="S",
              help="Seconds of capture time between interval reports; 0 turns them off.")
@click.option("--count", "-c", type=numeric.COUNT, metavar="N",
              help="Stop after N datagrams.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary.")
@analysis_options_applied
def analyze(files: tuple[str, ...], sources: tuple[str, ...], count: Optional[int],
            **params: Any) -> int:
    """Count the UDP datagrams of captures as a live run counts them.

    Reads pcap and pcapng files (from --pcap, tcpdump, tshark, dumpcap; - reads standard
    input; gzip-compressed too) with Ethernet, raw IP, BSD loopback or Linux cooked
    (SLL, SLL2) frames, IPv4 and IPv6, fragments reassembled, and runs their datagrams
    through the counting kernel with the capture's times: the same summary, interval
    reports and JSON as `listen` and `event`, over capture time. Several files are read
    in turn as one capture (a ring buffer's files, in order). A capture cut short is
    analysed up to its last whole record, and the error says how much was cut (exit 2).
    """
    from wskrecv.offline.analyze import AnalyzeConfig, parse_source
    from wskrecv.offline.analyze import analyze as run

    if "-" in files and len(files) > 1:
        raise click.UsageError("- (standard input) is read alone, not with other files")
    config = AnalyzeConfig(files=files, sources=tuple(parse_source(s) for s in sources),
                           count=count, **params)
    return run(config, current_environment(), option_name=flag)
