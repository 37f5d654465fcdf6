"""What a client did after each injected fault (inject.py): the ledger.

Every fault ends with one outcome, the worst its evidence shows:

- crashed: the client's code raised after it (a client fault);
- violated: the client broke a WSK rule after it (the rule and the client's line);
- leaked: what the fault touched never came back: its IRP was never freed (IrpLeaked),
  lists were still retained when the socket closed (IndicationLeaked), or the socket
  that stopped working was never closed by the client;
- stalled: the client stopped receiving after it and never started again (no receive
  posted and no callback enabled, or indications waiting for buffers only the client can
  give back), with when it stopped and the last WSK call it made;
- recovered: none of these: it kept receiving.

Evidence is charged to the fault that came last before it (an IRP's leak to the last
fault on that IRP). A fault whose outcome can no longer change is counted and let go, so
the ledger's size does not grow with the run (the first few that did not recover are
kept, with their details, for the report).
"""

from __future__ import annotations

from collections import Counter
from enum import Enum
from typing import Any, Optional

NOTABLE = 16  # faults kept with their details, of those that did not recover
MAX_SITES = 256  # (kind, where) pairs counted; further ones are counted under None
MAX_IRPS = 4096  # IRPs remembered with the last fault on them


class Outcome(Enum):
    """What the client did after a fault, mildest first."""

    RECOVERED = "recovered"
    STALLED = "stalled"
    LEAKED = "leaked"
    VIOLATED = "violated"
    CRASHED = "crashed"


_RANK = {outcome: i for i, outcome in enumerate(Outcome)}


class Fault:
    """One injected fault: its number, kind, time, the injectable call it failed, where it
    met the client (file:line), what happened, and what the client did after it."""

    __slots__ = ("number", "kind", "time_ns", "call", "where", "detail", "irp", "outcome",
                 "why", "final")

    def __init__(self, number: int, kind: str, time_ns: int, call: int, where: Optional[str],
                 detail: str, irp: Any = None) -> None:
        self.number = number
        self.kind = kind
        self.time_ns = time_ns
        self.call = call
        self.where = where
        self.detail = detail
        self.irp = irp  # the IRP it failed or cancelled, whose leak is its outcome
        self.outcome = Outcome.RECOVERED
        self.why = ""
        self.final = False

    def charge(self, outcome: Outcome, why: str) -> None:
        """`outcome`, if worse than what the fault has (the first reason of the worst
        outcome stays)."""
        if _RANK[outcome] > _RANK[self.outcome]:
            self.outcome = outcome
            self.why = why

    def as_dict(self, t0_ns: int) -> dict[str, Any]:
        return {"fault": self.number, "kind": self.kind, "time_s": _seconds(self.time_ns, t0_ns),
                "call": self.call, "where": self.where, "detail": self.detail,
                "outcome": self.outcome.value, "why": self.why}


def _seconds(ns: int, t0_ns: int) -> float:
    """Seconds since the run started (0 for what came before it: a constructor's)."""
    return round(max(0, ns - t0_ns) / 1e9, 6)


class Ledger:
    """The faults of one run and their outcomes (see the module docstring)."""

    def __init__(self) -> None:
        self.t0_ns = 0  # when the run started, on the injector's clock
        self.injected: Counter[str] = Counter()  # by kind
        self.outcomes: Counter[tuple[str, Outcome]] = Counter()  # (kind, outcome), final ones
        self.sites: Counter[tuple[str, Optional[str]]] = Counter()
        self.notable: list[Fault] = []
        self.last_call: Optional[tuple[str, int, Optional[str]]] = None
        self._count = 0
        self._last: Optional[Fault] = None
        self._by_irp: dict[Any, Fault] = {}
        self._stall: Optional[tuple[int, Optional[Fault], str]] = None  # since, fault, why
        self._failed_socket: Optional[Fault] = None
        self.stalled: Optional[dict[str, Any]] = None  # the stall, once judged

    # -- faults -----------------------------------------------------------------------

    def injected_fault(self, kind: str, time_ns: int, call: int, where: Optional[str],
                       detail: str, irp: Any = None) -> Fault:
        """A fault was injected (the injector says what, when and where)."""
        self._count += 1
        fault = Fault(self._count, kind, time_ns, call, where, detail, irp)
        self.injected[kind] += 1
        site = (kind, where)
        if site in self.sites or len(self.sites) < MAX_SITES:
            self.sites[site] += 1
        else:
            self.sites[(kind, None)] += 1
        previous, self._last = self._last, fault
        if irp is not None:
            older = self._by_irp.pop(irp, None)
            self._by_irp[irp] = fault
            if older is not None:
                self._settle(older)
            if len(self._by_irp) > MAX_IRPS:  # the oldest remembered IRP is forgotten
                oldest = next(iter(self._by_irp))
                self._settle(self._by_irp.pop(oldest))
        if kind == "fail-socket":
            self._failed_socket = fault
        if previous is not None:
            self._settle(previous)
        return fault

    def _held(self, fault: Fault) -> bool:
        """Whether later evidence may still change `fault`'s outcome."""
        return (fault is self._last or self._by_irp.get(fault.irp) is fault
                or (self._stall is not None and self._stall[1] is fault)
                or fault is self._failed_socket)

    def _settle(self, fault: Fault) -> None:
        """Count `fault`'s outcome once nothing can change it any more."""
        if fault.final or self._held(fault):
            return
        fault.final = True
        self.outcomes[(fault.kind, fault.outcome)] += 1
        if fault.outcome is not Outcome.RECOVERED and len(self.notable) < NOTABLE:
            self.notable.append(fault)
        fault.irp = None

    # -- evidence ---------------------------------------------------------------------

    def called(self, name: str, time_ns: int, where: Optional[str]) -> None:
        """The client made a WSK call on its socket."""
        self.last_call = (name, time_ns, where)

    def violation(self, rule: str, where: Optional[str]) -> None:
        """The verifier counted a rule break: charged to the last fault (a leak of lists
        is `leaked`; a leaked IRP comes through `irps_left`, where the IRP is known)."""
        if self._last is None or rule == "IrpLeaked":
            return
        if rule == "IndicationLeaked":
            self._last.charge(Outcome.LEAKED, f"{rule}: lists still retained when the socket "
                                              "closed")
        else:
            self._last.charge(Outcome.VIOLATED, f"{rule} at {where or 'an unknown place'}")

    def crashed(self, description: str) -> None:
        """The client's code raised (`description`: what, in which routine, where)."""
        if self._last is not None:
            self._last.charge(Outcome.CRASHED, description)

    def irps_left(self, irps: list[tuple[Any, Optional[str]]]) -> None:
        """The IRPs the client never freed, with their IoAllocateIrp sites (at its
        WskDeregister): each charged to the last fault on it, else the last fault."""
        for irp, where in irps:
            fault = self._by_irp.get(irp) or self._last
            if fault is not None:
                fault.charge(Outcome.LEAKED, f"IrpLeaked: the IRP allocated at "
                                             f"{where or 'an unknown place'} was never freed")

    def socket_left_open(self) -> None:
        """The socket stopped working (`fail-socket`) and the client never closed it."""
        fault = self._failed_socket
        if fault is not None:
            fault.charge(Outcome.LEAKED, "the socket stopped working and the client never "
                                         "closed it (WskCloseSocket)")

    def observe(self, receiving: bool, now_ns: int, why_not: str) -> None:
        """Whether the client can receive now: the start of its last stretch of not
        receiving is remembered, with the fault that came before it."""
        if receiving:
            if self._stall is not None:
                fault = self._stall[1]
                self._stall = None
                if fault is not None:
                    self._settle(fault)
        elif self._stall is None:
            self._stall = (now_ns, self._last, why_not)

    @property
    def last_fault(self) -> Optional[Fault]:
        """The fault injected last (until the run is over), or None."""
        return self._last

    @property
    def stalled_since(self) -> Optional[int]:
        """When the client stopped receiving after a fault (None: it did not)."""
        if self._stall is None or self._stall[1] is None:
            return None
        return self._stall[0]

    def judge_stall(self, now_ns: int = 0, min_ns: int = 0) -> None:
        """Before the client is stopped: if it stopped receiving after a fault and never
        started again (for `min_ns` at least, by `now_ns`), that fault stalled it."""
        if self._stall is None or self._stall[1] is None:
            return
        since, fault, why_not = self._stall
        if now_ns - since < min_ns:
            return  # a pause too short to call a stall (a client thread may be acting)
        call = self.last_call
        last = (f"; last call {call[0]} at {call[2] or 'an unknown place'} "
                f"({_seconds(call[1], self.t0_ns):.6f} s)" if call is not None else
                "; it made no WSK call")
        fault.charge(Outcome.STALLED, f"stopped receiving at {_seconds(since, self.t0_ns):.6f} s "
                                      f"({why_not}){last}")
        self.stalled = {
            "since_s": _seconds(since, self.t0_ns),
            "reason": why_not,
            "fault": fault.number,
            "last_call": ({"name": call[0], "where": call[2],
                           "time_s": _seconds(call[1], self.t0_ns)} if call is not None else None),
        }

    def finish(self) -> None:
        """The run is over: every fault's outcome is final (idempotent)."""
        held = [*self._by_irp.values(), self._last, self._failed_socket,
                self._stall[1] if self._stall is not None else None]
        self._last = self._failed_socket = self._stall = None
        self._by_irp.clear()
        for fault in held:
            if fault is not None:
                self._settle(fault)

    # -- the report -------------------------------------------------------------------

    @property
    def worst(self) -> Outcome:
        """The worst outcome of any fault (RECOVERED when none failed, or none came)."""
        found = {outcome for (_, outcome), n in self.outcomes.items() if n}
        return max(found, key=_RANK.__getitem__, default=Outcome.RECOVERED)

    def summary(self, calls: int) -> dict[str, Any]:
        """The JSON summary's `faults` object (call `finish` first)."""
        by_kind: dict[str, dict[str, int]] = {}
        for kind, n in self.injected.items():
            row = {"injected": n}
            row.update({o.value: self.outcomes[(kind, o)] for o in Outcome})
            by_kind[kind] = row
        return {
            "injectable_calls": calls,
            "injected": sum(self.injected.values()),
            "by_kind": by_kind,
            "outcomes": {o.value: sum(n for (_, out), n in self.outcomes.items() if out is o)
                         for o in Outcome},
            "verdict": self.worst.value,
            "sites": [{"kind": kind, "where": where, "count": n} for (kind, where), n in
                      sorted(self.sites.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or ""))],
            "notable": [f.as_dict(self.t0_ns) for f in self.notable],
            "stall": self.stalled,
        }


__all__ = ["NOTABLE", "Fault", "Ledger", "Outcome"]
