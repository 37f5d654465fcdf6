"""The receive commands' options for testing a client's error paths: fault injection
(--inject, --seed, --inject-status, --inject-delay, --inject-systematic) and replay of a
capture (--replay, --replay-filter), with the usage errors click cannot see.

Only click and the configuration here, like common.py: a kind or a status is checked
against the model's lists (wskrecv.wsk.inject) only when the option is given.
"""

from __future__ import annotations

from typing import Callable, Optional

import click

from wskrecv import units
from wskrecv.commands import numeric
from wskrecv.config import ReceiveConfig
from wskrecv.errors import UsageError

KINDS = ("alloc", "receive", "cancel", "short-list", "no-buffers", "fail-socket", "delay")
SYSTEMATIC_RUNS = 1000  # --inject-systematic without a number: runs at most
MAX_SYSTEMATIC_RUNS = 1_000_000


def _kinds(ctx: click.Context, param: click.Parameter,
           value: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """--inject KIND[=RATE], repeatable: (kind, rate) pairs."""
    if not value:
        return ()
    from wskrecv.wsk.inject import parse_kinds

    try:
        return tuple((kind.value, rate) for kind, rate in parse_kinds(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _status(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    """--inject-status NAME: one of the failures `receive` injects, by its name."""
    if value is None:
        return None
    from wskrecv.wsk.inject import parse_status

    try:
        return parse_status(value).name
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def fault_options() -> list[Callable]:
    """--inject and its companions, --replay and --replay-filter (listen, event, run)."""
    return [
        click.option(
            "--inject", multiple=True, metavar="KIND[=RATE]", callback=_kinds,
            help="Inject faults into the client, as Driver Verifier's Low Resources "
            f"Simulation does: KIND is {', '.join(KINDS)} or all; RATE the chance that one "
            "injectable call fails (0 to 1, or 10%; default 6%, Driver Verifier's). "
            "Repeatable. The summary says what the client did after each fault; a client "
            "that stalls exits 8, one that leaks or breaks a rule 7.",
        ),
        click.option(
            "--seed", type=click.IntRange(0, (1 << 64) - 1), metavar="N",
            help="The seed of --inject's random choices (default: drawn, and printed in the "
            "start line): the same seed, traffic and client fail the same calls.",
        ),
        click.option(
            "--inject-status", metavar="NAME", callback=_status,
            help="The failure `--inject receive` completes requests with: "
            "INSUFFICIENT_RESOURCES (default), NO_MEMORY, NETWORK_UNREACHABLE, "
            "HOST_UNREACHABLE or PORT_UNREACHABLE.",
        ),
        click.option(
            "--inject-delay", type=numeric.number(units.DURATION, 0, 60, low_open=True),
            metavar="S", help="The longest `--inject delay` holds completions and callbacks "
            "back (or 500us, 5ms; default 10ms, at most 1m).",
        ),
        click.option(
            "--inject-systematic", type=numeric.number(units.COUNT, 1, MAX_SYSTEMATIC_RUNS),
            is_flag=False, flag_value=str(SYSTEMATIC_RUNS), default=None, metavar="[RUNS]",
            help="With --replay: run the capture again and again, failing injectable call 1, "
            "then 2, ... (of the --inject kinds, else of every kind), as Systematic Low "
            "Resources Simulation does, and report the first call whose failure the client "
            f"does not survive (at most RUNS runs, default {SYSTEMATIC_RUNS}).",
        ),
        click.option(
            "--replay", type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE",
            help="Receive the UDP datagrams of a capture (pcap or pcapng, from --pcap, "
            "tcpdump, tshark, dumpcap; - reads standard input) instead of a socket: in "
            "capture order, the capture's times as the clock, as fast as the client takes "
            "them. The same file, client, options and --seed give the same summary.",
        ),
        click.option(
            "--replay-filter", metavar="EXPR",
            help="Which datagrams of the --replay capture: [src|dst] host ADDR, [src|dst] "
            "net ADDR/LEN, [src|dst] port N, udp (all), joined by `and` (default: dst port "
            "of --port).",
        ),
    ]


def check_faults(config: ReceiveConfig) -> None:
    """Usage errors of injection and replay: options that need another, or cannot go
    with one."""
    kinds = {name for name, _ in config.inject}
    if config.inject_status is not None and "receive" not in kinds:
        _reject("--inject-status is the failure of --inject receive: give it too")
    if config.inject_delay is not None and "delay" not in kinds and config.inject_systematic is None:
        _reject("--inject-delay bounds --inject delay: give it too")
    if config.seed is not None and not config.injects:
        _reject("--seed seeds --inject: give a kind to inject")
    if config.inject_systematic is not None and config.replay is None:
        _reject("--inject-systematic runs the same traffic again and again: give a capture "
                "with --replay")
    if config.inject_systematic is not None and config.replay == "-":
        _reject("--inject-systematic reads the capture once per run: give a file, not -")
    if config.injects and config.workers is not None:
        _reject("--inject judges one client on one socket: not with --workers")
    if config.replay_filter is not None and config.replay is None:
        _reject("--replay-filter picks datagrams of a --replay capture: give one")
    if config.replay is None:
        return
    for given, flag in ((config.workers is not None, "--workers"), (config.fd is not None, "--fd"),
                        (config.iperf3, "--iperf3"), (config.live, "--live")):
        if given:
            _reject(f"--replay reads a capture, not live traffic: not with {flag}")
    if config.replay == "-" and config.pcap == "-":
        _reject("--replay - and --pcap - cannot both use the standard streams")


def _reject(message: str) -> None:
    raise UsageError(message)


__all__ = ["KINDS", "SYSTEMATIC_RUNS", "check_faults", "fault_options"]
