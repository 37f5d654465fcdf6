"""The human summary's lines about injected faults (--inject): how many of which kind,
what the client did after them, and the faults it did not recover from, each with where
it met the client and why it is judged so (the JSON summary's `faults` object, in
words)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wskrecv.output.format import plural


def fault_lines(faults: Mapping[str, Any]) -> list[str]:
    """The summary's `faults` block."""
    injected = faults["injected"]
    kinds = ", ".join(f"{kind} {row['injected']}" for kind, row in faults["by_kind"].items())
    lines = [f"faults       {plural(injected, 'fault')} injected in "
             f"{plural(faults['injectable_calls'], 'injectable call')} (seed {faults['seed']})"
             + (f": {kinds}" if kinds else "")]
    if injected:
        outcomes = ", ".join(f"{name} {n}" for name, n in faults["outcomes"].items() if n)
        lines.append(f"after them   {outcomes}")
    for fault in faults["notable"]:
        lines.append(f"  fault {fault['fault']}: {fault['kind']} at {fault['time_s']:.6f} s "
                     f"({fault['where'] or 'not in the client'}; {fault['detail']}): "
                     f"{fault['outcome']}: {fault['why']}")
    return lines


__all__ = ["fault_lines"]
