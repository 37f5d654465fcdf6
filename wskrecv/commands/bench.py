"""`wskrecv bench`: measure receive capacity, save it, compare it with a saved run."""

from __future__ import annotations

import json
from typing import Optional

import click

from wskrecv import units
from wskrecv.commands import numeric
from wskrecv.commands.common import current_environment
from wskrecv.commands.numeric import number
from wskrecv.config import BENCH_MODES, BenchConfig
from wskrecv.errors import ExitStatus, UsageError

DEFAULTS = BenchConfig()
# --mode: the modes, and each wskrecv mode's pure-Python row (named MODE-py in JSON).
MODE_CHOICES = (*BENCH_MODES, *(f"{m}-py" for m in BENCH_MODES if m not in ("c", "python")))
MAX_BENCH_COUNT = 10**8  # a drain keeps the whole count queued: bound what it may ask for


@click.command()
@click.option("--size", "-s", type=number(units.SIZE, 1, 65507), default=DEFAULTS.size,
              show_default=True, metavar="BYTES", help="Payload bytes per datagram.")
@click.option("--count", "-c", type=number(units.COUNT, 1, MAX_BENCH_COUNT),
              default=DEFAULTS.count, show_default=True, metavar="N",
              help="Datagrams per measurement (queued for a drain, sent in a live run); "
              "at most 100M.")
@click.option("--rounds", "-r", type=number(units.INTEGER, 1, 1000), default=DEFAULTS.rounds,
              show_default=True, metavar="N",
              help="Measurements per mode, 1 to 1000; modes alternate within each round.")
@click.option("--mode", "-m", "modes", type=click.Choice(MODE_CHOICES), multiple=True,
              metavar="MODE",
              help=f"Run only this mode (repeatable): {', '.join(BENCH_MODES)}. Default: "
              "all. A wskrecv mode is measured on each receive core; MODE-py (irp-64-py...) "
              "on the pure-Python one alone, its row labelled [pure-Python]. Ratios need "
              "the baselines (python, c) in the run.")
@click.option("--live", is_flag=True,
              help="A full-speed sender against each receiver instead of a pre-filled queue: "
              "reports received, lost and kernel drops.")
@click.option("--rcvbuf", type=numeric.RCVBUF, default=None, metavar="BYTES",
              help="With --live: receive buffer each receiver asks for (default 64 MiB, as "
              "the receive commands).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@click.option("--save", "save_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the results (JSON) to FILE.")
@click.option("--compare", "compare_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Compare with results saved earlier by --save.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
def bench(size: int, count: int, rounds: int, modes: tuple[str, ...], live: bool,
          rcvbuf: Optional[int],
          as_json: bool, save_path: Optional[str], compare_path: Optional[str],
          quiet: bool) -> int:
    """Measure how fast each receive mode takes datagrams off a socket.

    Drain (default): fill a fresh socket's queue with --count datagrams (checked with
    SO_MEMINFO), then time a receiver emptying it. Receivers: every wskrecv mode through
    the code the CLI runs (irp-1: listen -n 1; irp-64: listen -n 64; event; event-pend:
    event --pend), a bare Python recvfrom_into loop, and a C recvfrom loop compiled with
    the system's C compiler (skipped, with a note, without one). Reports medians, min-max,
    and ratios to both baselines. Runs on 127.0.0.1 only. Ctrl-C, SIGTERM or SIGHUP stops
    it (exit 130, 143 or 129; nothing reported, its helper processes ended).
    """
    from wskrecv.bench import benchmark, results
    from wskrecv.bench.report import render

    env = current_environment()  # the group's: --color and the streams tests swap
    if rcvbuf is not None and not live:
        raise UsageError("--rcvbuf applies to --live only (a drain sizes each queue for --count)")
    before = results.load(compare_path) if compare_path else None  # fail before measuring
    if save_path:
        results.check_writable(save_path)

    def progress(line: str) -> None:
        if not quiet:
            env.stderr.write(line + "\n")
            env.stderr.flush()

    config = BenchConfig(size=size, count=count, rounds=rounds, live=live, rcvbuf=rcvbuf,
                         modes=modes)
    from wskrecv.signals import StopSignals, kill_children, raise_interrupt, signal_of

    try:
        # SIGTERM and SIGHUP stop it as Ctrl-C does: the `finally` blocks on the way out
        # end its helper processes (C receiver, sender); a second signal exits at once.
        with StopSignals(raise_interrupt).installed():
            doc = benchmark(config, progress)
    except KeyboardInterrupt as exc:
        kill_children()  # one started as the signal landed, too
        return int(ExitStatus.for_signal(signal_of(exc)))  # nothing reported
    comparison = results.compare(before, doc) if before is not None else None
    if as_json:
        out = dict(doc)
        if comparison is not None:
            out["comparison"] = comparison
        env.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")
    else:
        env.stdout.write(render(doc, comparison))
    env.stdout.flush()
    if save_path:
        results.save(save_path, doc)
    return 0


__all__ = ["bench"]
