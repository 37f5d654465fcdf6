"""`wskrecv bench`: how fast each receive mode drains a full socket queue, against a bare
Python loop and a C loop compiled on the spot; and (`--live`) what each one loses against
a full-speed sender.

native.py builds the C helper, queue.py fills and measures socket queues, targets.py
holds the receivers, run.py the rounds, results.py the JSON document, report.py the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

from wskrecv import core as cores
from wskrecv.bench import native as _native
from wskrecv.bench import results
from wskrecv.bench.queue import Sender
from wskrecv.bench.run import run_drain, run_live
from wskrecv.bench.targets import all_targets
from wskrecv.config import BenchConfig
from wskrecv.errors import OsFailure
from wskrecv.provider.udp import DEFAULT_RCVBUF

__all__ = ["BenchConfig", "benchmark", "chosen_by"]


def benchmark(config: BenchConfig, progress: Optional[Callable[[str], None]] = None) -> dict[str, Any]:
    """Run the benchmark and return its JSON document (see `results`)."""
    say = progress or (lambda _line: None)
    native = _native.build()
    sender = Sender(native)
    chosen = cores.current()
    # Both cores side by side when the native one runs; only the twin when it is forced.
    targets = all_targets(native, [chosen] if chosen.name == cores.PURE else [chosen, cores.pure()])
    if config.modes:
        targets = [t for t in targets if chosen_by(t, config.modes)]
    notes = [t.note for t in targets if not t.available and t.note]
    targets = [t for t in targets if t.available]
    if not targets:
        raise OsFailure("nothing to measure: " + "; ".join(notes))
    params = {"sender" if config.live else "fill_method": sender.method}
    if config.live:
        rcvbuf = DEFAULT_RCVBUF if config.rcvbuf is None else config.rcvbuf
        run = run_live(targets, sender, config.count, config.size, config.rounds, rcvbuf, say)
        doc = results.live_document(run, config.size, config.rounds, params, notes)
    else:
        drain = run_drain(targets, sender, config.count, config.size, config.rounds, say)
        doc = results.drain_document(drain, config.size, config.rounds, params, notes)
    doc["machine"] = results.machine(native.compiler)
    doc["core"] = chosen.name
    return doc


def chosen_by(target: Any, modes: Sequence[str]) -> bool:
    """Whether --mode picks `target`: MODE picks its row for each core, MODE-py the
    pure-Python core's alone (its table label says "[pure-Python]")."""
    base = getattr(target, "base", target.name)
    pure = getattr(getattr(target, "core", None), "name", None) == cores.PURE
    return base in modes or (pure and f"{base}-py" in modes)
