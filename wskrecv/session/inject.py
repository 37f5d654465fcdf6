"""Fault injection in a receive session: the plan a run's options ask for and the injector
(wskrecv.wsk.inject) the client's registration is given, with what the start line and
the JSON start object say of it."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, Callable, Optional

from wskrecv.config import ReceiveConfig
from wskrecv.wsk.inject import DEFAULT_MAX_DELAY_NS, FaultKind, FaultPlan, Injector, parse_status


def with_seed(config: ReceiveConfig) -> ReceiveConfig:
    """`config` with a seed when it injects faults: --seed, else one drawn now (the start
    line says it, so that the run can be repeated)."""
    if not config.injects or config.seed is not None:
        return config
    return replace(config, seed=random.SystemRandom().randrange(1 << 32))


def fault_plan(config: ReceiveConfig) -> Optional[FaultPlan]:
    """What `config` injects (None: nothing). The systematic mode's runs inject the kinds
    --inject names, or every kind, at `fail_call` only."""
    if not config.injects:
        return None
    assert config.seed is not None, "with_seed first"
    if config.inject:
        rates = tuple((FaultKind(name), rate) for name, rate in config.inject)
    else:
        rates = tuple((kind, 0.0) for kind in FaultKind)
    status = parse_status(config.inject_status) if config.inject_status else None
    delay = (int(config.inject_delay * 1e9) if config.inject_delay is not None
             else DEFAULT_MAX_DELAY_NS)
    plan = FaultPlan(rates, config.seed, max_delay_ns=max(1, delay), systematic=config.fail_call)
    return replace(plan, status=status) if status is not None else plan


def make_injector(config: ReceiveConfig, now_ns: Callable[[], int],
                  stall_grace_s: float) -> Optional[Injector]:
    """The run's injector on clock `now_ns` (None when nothing is injected). A stall must
    last `stall_grace_s` to count (a live run's --grace; 0 in a replay)."""
    plan = fault_plan(config)
    if plan is None:
        return None
    faults = Injector(plan, now_ns)
    faults.stall_grace_ns = int(stall_grace_s * 1e9)
    return faults


def describe(info: dict[str, Any], faults: Optional[Injector]) -> None:
    """The start fields of injection: `seed` and `inject` (the JSON start object), and
    the start line's words."""
    if faults is None:
        return
    info["seed"] = faults.plan.seed
    info["inject"] = faults.plan.as_json()
    info["detail"] += f", {faults.plan.describe()}"


__all__ = ["describe", "fault_plan", "make_injector", "with_seed"]
