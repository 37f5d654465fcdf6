"""Selftest machinery: cases, their results, the context they run in, the loop.

A case is a function that starts receivers (`ReceiverProcess`), drives them with the
generator in this process, and compares. It returns its figures (a small dict shown next
to the verdict) or raises `CaseFailed` / `CaseSkipped` with the reason.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from wskrecv.errors import WskrecvError
from wskrecv.generator import PayloadPlan, Sender, SendReport, SendSpec, resolve_destination, validate
from wskrecv.generator.raw import can_send_raw
from wskrecv.selftest.host import have_ipv6, snmp_counters
from wskrecv.selftest.receiver import ReceiverError, ReceiverProcess

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
INTERRUPTED = "INTERRUPTED"  # the case running when a stop signal ended the selftest

# What each receive style needs from the command line: (command, options).
STYLE_NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "irp": ("listen", ()),
    "event": ("event", ()),
    "event-pend": ("event", ("--pend",)),
}


class CaseFailed(Exception):
    """The case ran and what was received is not what was sent."""


class CaseSkipped(Exception):
    """The case cannot run here (no privilege, no IPv6, no such receive style)."""


def expect(condition: bool, message: str) -> None:
    """Fail the running case with `message` unless `condition` holds."""
    if not condition:
        raise CaseFailed(message)


@dataclass(frozen=True)
class Case:
    """One check: `run(ctx, case)` returns figures or raises."""

    name: str
    style: str
    title: str
    run: Callable[[Context, Case], dict[str, Any]]
    needs: tuple[str, ...] = ()  # "raw", "ipv6", "snmp", "option:COMMAND:--OPTION"

    @property
    def key(self) -> str:
        return f"{self.name}[{self.style}]"


@dataclass(frozen=True)
class CaseResult:
    case: Case
    status: str
    detail: str = ""
    figures: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The `case` JSON object (without its "type")."""
        return {
            "name": self.case.name,
            "style": self.case.style,
            "title": self.case.title,
            "status": self.status,
            "detail": self.detail,
            "figures": dict(self.figures),
            "duration_s": round(self.duration_s, 3),
        }


def describe(figures: Mapping[str, Any]) -> str:
    """Figures as one short line: "sent 1000, received 1000, in order" (True: the key)."""
    return ", ".join(k if v is True else f"{k} {v}" for k, v in figures.items())


class Context:
    """What cases share: host facts, the available commands, and helpers."""

    def __init__(self, commands: Mapping[str, Any], timeout: float = 10.0) -> None:
        self.commands = commands
        self.timeout = timeout
        self.raw_ok = can_send_raw()
        self.ipv6_ok = have_ipv6()
        self.snmp_ok = snmp_counters() is not None

    def has_option(self, command: str, option: str) -> bool:
        cmd = self.commands.get(command)
        return cmd is not None and any(option in p.opts for p in getattr(cmd, "params", ()))

    def unmet(self, case: Case) -> Optional[str]:
        """Why `case` cannot run here, or None."""
        command, options = STYLE_NEEDS[case.style]
        if command not in self.commands or not all(self.has_option(command, o) for o in options):
            return f"{case.style.split('-')[0]} style not available"
        for need in case.needs:
            if need == "raw" and not self.raw_ok:
                return "needs root or CAP_NET_RAW (raw IP sockets)"
            if need == "ipv6" and not self.ipv6_ok:
                return "no IPv6 loopback (::1) here"
            if need == "snmp" and not self.snmp_ok:
                return "no kernel counters (/proc/net/snmp) here"
            if need.startswith("option:"):
                _, command, option = need.split(":", 2)
                if not self.has_option(command, option):
                    return f"`wskrecv {command}` has no {option}"
        return None

    def receiver(self, style: str, *args: str, bind: str = "127.0.0.1") -> ReceiverProcess:
        """Start a receive command of `style`; it ends by itself after --timeout at most."""
        return ReceiverProcess(style, *args, "--timeout", f"{self.timeout:g}", bind=bind)

    def send(self, host: str, port: int, **options: Any) -> tuple[SendReport, PayloadPlan]:
        """Run the generator in this process; returns its report and payload plan."""
        spec = validate(SendSpec(resolve_destination(host, port), **options))
        with Sender(spec) as sender:
            return sender.run(), sender.plan


def select(cases: Iterable[Case], patterns: Iterable[str]) -> list[Case]:
    """Cases whose name or name[style] matches any glob (all when none given)."""
    patterns = list(patterns)
    if not patterns:
        return list(cases)
    return [
        c for c in cases
        if any(fnmatch.fnmatchcase(c.name, p) or fnmatch.fnmatchcase(c.key, p) or p == c.style
               for p in patterns)
    ]


def run_case(ctx: Context, case: Case) -> CaseResult:
    """Run one case; every outcome becomes a result (an unexpected error is a FAIL)."""
    reason = ctx.unmet(case)
    if reason is not None:
        return CaseResult(case, SKIP, reason)
    t0 = time.monotonic()
    try:
        figures = case.run(ctx, case)
    except CaseSkipped as exc:
        return CaseResult(case, SKIP, str(exc), duration_s=time.monotonic() - t0)
    except (CaseFailed, ReceiverError, WskrecvError) as exc:
        return CaseResult(case, FAIL, str(exc), duration_s=time.monotonic() - t0)
    except OSError as exc:
        return CaseResult(case, FAIL, f"OS error: {exc}", duration_s=time.monotonic() - t0)
    return CaseResult(case, PASS, describe(figures), figures, time.monotonic() - t0)
