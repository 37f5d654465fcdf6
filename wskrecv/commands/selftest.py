"""`wskrecv selftest`: the first thing to run: every receive style, checked end to end."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Optional

import click

from wskrecv import units
from wskrecv.commands.common import current_environment
from wskrecv.commands.numeric import number
from wskrecv.errors import ExitStatus, UsageError

if TYPE_CHECKING:
    from wskrecv.selftest import Case


@click.command()
@click.option("--json", "as_json", is_flag=True,
              help="JSON lines on stdout: one `case` object per case, then a `verdict`.")
@click.option("--only", "patterns", multiple=True, metavar="PATTERN",
              help="Run only the cases whose name, name[style] or style matches this glob "
              "(repeatable), e.g. --only 'ipv*' --only event-pend.")
@click.option("--list", "list_cases", is_flag=True, help="List the cases and exit.")
@click.option("--timeout", type=number(units.DURATION, 1, 600), default=10.0, show_default=True,
              metavar="S", help="How long a case waits for its datagrams before it fails "
              "(1 to 600 s).")
@click.pass_context
def selftest(ctx: click.Context, as_json: bool, patterns: tuple[str, ...], list_cases: bool,
             timeout: float) -> int:
    """Check wskrecv end to end on loopback.

    Starts receivers in every style (listen; event; event --pend) on free loopback ports,
    drives each with the generator and checks what arrived against what was sent: counts,
    sequence numbers, bytes, truncation, fragments, checksums, reordering, duplicates,
    sources, kernel drops, cancellation and leaks. Cases that need raw IP are skipped
    (with the reason) unless run as root or with CAP_NET_RAW. Exit 0 when no case failed.
    Ctrl-C, SIGTERM or SIGHUP stops it, kills the running case's receivers and prints an
    INTERRUPTED verdict naming the signal and the case (exit 130, 143 or 129).
    """
    # Imported here: the receive commands' start-up must not pay for the selftest's.
    import signal

    from wskrecv.selftest import (
        INTERRUPTED,
        CaseResult,
        Context,
        JsonDisplay,
        LiveDisplay,
        PlainDisplay,
        Verdict,
        all_cases,
        run_case,
        select,
    )
    from wskrecv.signals import StopSignals, kill_children, raise_interrupt

    env = current_environment()
    cases = select(all_cases(), patterns)
    if not cases:
        raise UsageError(f"no selftest case matches {', '.join(patterns)} (see --list)")
    if list_cases:
        for case in cases:
            env.stdout.write(f"{case.key:<24} {case.title}\n")
        return int(ExitStatus.OK)
    context = Context(ctx.find_root().command.commands, timeout=timeout)
    if as_json:
        display = JsonDisplay(env.stdout)
    elif env.stderr_isatty and not env.ci:
        display = LiveDisplay(env.stderr, color=env.color)
    else:
        display = PlainDisplay(env.stderr)
    t0 = time.monotonic()
    results: list[CaseResult] = []
    stops = StopSignals(raise_interrupt)
    display.begin(cases)
    with stops.installed():  # SIGTERM and SIGHUP end it as Ctrl-C does; a second: at once
        running: Optional[tuple[Case, float]] = None
        try:
            for case in cases:
                display.started(case)
                running = (case, time.monotonic())
                result = run_case(context, case)
                running = None
                results.append(result)
                display.finished(result)
        except KeyboardInterrupt:
            # The running case's receivers are gone already (killed as its `with` blocks
            # unwound; any other child now); say which case was cut short and what ran,
            # then exit 128 + the signal's number.
            kill_children()
            signum = stops.signum or signal.SIGINT
            name = signal.Signals(signum).name
            if running is not None:
                case, started = running
                cut = CaseResult(case, INTERRUPTED, f"interrupted by {name}",
                                 duration_s=time.monotonic() - started)
                results.append(cut)
                display.finished(cut)
            display.end(Verdict(results, time.monotonic() - t0, interrupted_by=name,
                                planned=len(cases)))
            return int(ExitStatus.for_signal(signum))
    verdict = Verdict(results, time.monotonic() - t0)
    display.end(verdict)
    return int(ExitStatus.OK if verdict.ok else ExitStatus.CHECK_FAILED)
