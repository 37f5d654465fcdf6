"""The systematic mode (`--inject-systematic`): Systematic Low Resources Simulation for a
receive client, on a replayed capture.

Run k replays the capture and fails injectable call k only (of the --inject kinds, else
of every kind; wskrecv.wsk.inject counts the calls), k = 1, 2, ...: because a replay is
deterministic, call k is the same call in every run. The mode stops at the first run
whose client does not recover (it crashed, broke a rule, leaked or stalled, or the run
failed otherwise), which it then runs once more with the command's own output, or when a
run has fewer than k injectable calls (the client survived every one), or after RUNS
runs. Each run reports one line (JSON: a `systematic` object), and the end one more (a
`systematic_result` object).

Driver Verifier's Systematic Low Resources Simulation fails each call *site* (call
stack) the first time it sees it, across reboots; here the calls are failed one by one in
the order they come, so a site is failed every time it comes (and the report says where
each failed call met the client).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from typing import Any, Callable, Optional

from wskrecv.config import ReceiveConfig
from wskrecv.environment import Environment
from wskrecv.errors import ExitStatus, WskrecvError


def _quiet(config: ReceiveConfig, n: int) -> ReceiveConfig:
    """Run n's configuration, reported as JSON to a buffer only."""
    return replace(config, fail_call=n, as_json=True, quiet=True, dump=False, pcap=None,
                   live=False, metrics=None, interval=0)


def _one_run(config: ReceiveConfig, env: Environment, option_name: Callable[[str], str],
             receive: Callable[..., int]) -> tuple[int, Optional[dict[str, Any]], str]:
    """One quiet run: its exit status, its JSON summary (None when it ended before one:
    a client fault in the constructor) and its last error line."""
    out, err = io.StringIO(), io.StringIO()
    quiet_env = Environment(stdout=out, stderr=err, environ=env.environ, debug=env.debug)
    error = ""
    try:
        status = receive(config, quiet_env, option_name)
    except WskrecvError as exc:
        status, error = int(exc.exit_status), str(exc)
    summary = next((o for o in map(json.loads, out.getvalue().splitlines())
                    if o.get("type") == "summary"), None)
    lines = err.getvalue().strip().splitlines()
    return status, summary, error or (lines[-1] if lines else "")


_EARLY = re.compile(r"\(after an injected fault: (\S+) at (.+?), seed \d+\)")


def _early_fault(error: str) -> Optional[dict[str, Any]]:
    """The fault behind a client fault in the constructor (before any summary), from its
    error line (hosting/user.py says which), or None."""
    m = _EARLY.search(error)
    if m is None:
        return None
    return {"kind": m.group(1), "where": None if m.group(2) == "?" else m.group(2),
            "outcome": "crashed", "why": error}


def _passed(status: int, summary: Optional[dict[str, Any]]) -> bool:
    """Whether a run passed: exit 0, or a capture cut short whose whole part passed (the
    same cut in every run: not the client's doing)."""
    # A summary that says exit 2 is a capture cut short (usage errors come before any).
    return status == ExitStatus.OK or (
        status == ExitStatus.USAGE and summary is not None
        and summary.get("exit_status") == ExitStatus.USAGE)


def _fault_of(summary: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The one fault a systematic run injected, as its summary describes it, or None."""
    if summary is None or not summary.get("faults", {}).get("injected"):
        return None
    faults = summary["faults"]
    if faults["notable"]:
        return faults["notable"][0]
    site = faults["sites"][0] if faults["sites"] else {}
    return {"kind": site.get("kind"), "where": site.get("where"), "outcome": "recovered",
            "why": ""}


def run(config: ReceiveConfig, env: Environment, option_name: Callable[[str], str],
        receive: Callable[..., int]) -> int:
    """Run the systematic mode; `receive(config, env, option_name)` runs one session.
    Returns the exit status: the first failing run's, or 0."""
    limit = config.inject_systematic or 0
    for n in range(1, limit + 1):
        status, summary, error = _one_run(_quiet(config, n), env, option_name, receive)
        crashed_early = summary is None  # the constructor raised: no run, no summary
        fault = _fault_of(summary) if not crashed_early else _early_fault(error)
        if crashed_early and status == ExitStatus.USAGE:
            return receive(replace(config, fail_call=n), env, option_name)  # its own error
        if fault is None and not crashed_early:
            if not _passed(status, summary):  # no fault was injected, and the run failed
                final = receive(replace(config, fail_call=n), env, option_name)
                return _result(env, config, n, None, final, f"the run fails with no fault "
                               f"injected (exit {status}): nothing to find")
            return _result(env, config, n, None, status, f"the client survived every one of "
                           f"its {n - 1} injectable calls")
        outcome = fault["outcome"] if fault is not None else "crashed"
        if crashed_early and fault is None:  # it failed before any fault: not ours to find
            return receive(replace(config, fail_call=n), env, option_name)
        _progress(env, config, n, fault, outcome, status, error)
        if not _passed(status, summary) or outcome != "recovered":
            where, kind = fault["where"], fault["kind"]
            text = (f"the client does not survive a failure of injectable call {n} ({kind} at "
                    f"{where or 'its constructor'}): {outcome}")
            try:
                final = receive(replace(config, fail_call=n), env, option_name)  # shown whole
            except WskrecvError as exc:  # a client fault in its constructor: said after
                _result(env, config, n, n, int(exc.exit_status), text)
                raise
            return _result(env, config, n, n, final, text)
    return _result(env, config, limit, None, 0, f"the client survived the {limit} injectable "
                   f"calls tried (--inject-systematic {limit})")


def _progress(env: Environment, config: ReceiveConfig, n: int, fault: Optional[dict[str, Any]],
              outcome: str, status: int, error: str) -> None:
    """One run's line."""
    if config.quiet:
        return
    kind = fault["kind"] if fault is not None else None
    where = fault["where"] if fault is not None else None
    if config.as_json:
        env.stdout.write(json.dumps({"type": "systematic", "run": n, "call": n, "kind": kind,
                                     "where": where, "outcome": outcome, "exit_status": status},
                                    separators=(",", ":")) + "\n")
        env.stdout.flush()
        return
    line = f"wskrecv: systematic run {n}: failed call {n}"
    line += f" ({kind} at {where or 'no client line'})" if fault is not None else ""
    line += f": {outcome}, exit {status}" + (f" ({error})" if error and status else "")
    env.stderr.write(line + "\n")
    env.stderr.flush()


def _result(env: Environment, config: ReceiveConfig, runs: int, first: Optional[int],
            status: int, text: str) -> int:
    """The mode's last line, and its exit status."""
    if config.as_json:
        env.stdout.write(json.dumps({"type": "systematic_result", "runs": runs,
                                     "first_failing_call": first, "text": text,
                                     "exit_status": status}, separators=(",", ":")) + "\n")
        env.stdout.flush()
    else:
        env.stderr.write(f"wskrecv: systematic: {text}\n")
        env.stderr.flush()
    return int(status)


__all__ = ["run"]
