"""Benchmark results as one JSON document: statistics, ratios, saving and comparing.

The document (`"type": "bench"`) is what `--json` prints, what `--save` writes and what
`--compare` reads back, so a saved run compares with any later one.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import stat
import statistics
import tempfile
from typing import Any, Optional

from wskrecv.bench.run import DrainRun, LiveRun, Samples
from wskrecv.errors import OsFailure, UsageError

SCHEMA = 1
BASELINES = ("python", "c")


def machine(compiler: Optional[str]) -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "compiler": compiler,
        "root": hasattr(os, "geteuid") and os.geteuid() == 0,
    }


def spread(values: list[float]) -> dict[str, float]:
    """Median, min and max (0 for no values)."""
    if not values:
        return {"median": 0.0, "min": 0.0, "max": 0.0}
    return {k: round(v, 6) for k, v in
            (("median", statistics.median(values)), ("min", min(values)), ("max", max(values)))}


def _mode_head(s: Samples) -> dict[str, Any]:
    return {"name": s.target.name, "label": s.target.label, "kind": s.target.kind}


def _add_ratios(modes: list[dict[str, Any]], key: str) -> None:
    """Each mode's median `key` over each baseline's (None when that baseline did not run)."""
    base = {m["name"]: m[key]["median"] for m in modes if m["name"] in BASELINES}
    for m in modes:
        for b in BASELINES:
            ref = base.get(b)
            m[f"vs_{b}"] = round(m[key]["median"] / ref, 4) if ref else None


def drain_document(run: DrainRun, size: int, rounds: int, params: dict[str, Any],
                   notes: list[str]) -> dict[str, Any]:
    """The JSON document of a drain run."""
    modes = []
    for s in run.samples:
        rates = [r["rate"] for r in s.rounds]
        modes.append({
            **_mode_head(s),
            "rate": spread(rates),
            "rates": [round(r, 1) for r in rates],
            "seconds": [round(r["seconds"], 6) for r in s.rounds],
            "violations": sum(r.get("violations", 0) for r in s.rounds),
        })
    _add_ratios(modes, "rate")
    return {
        "type": "bench",
        "schema": SCHEMA,
        "kind": "drain",
        "params": {"size": size, "count": run.count, "count_requested": run.count_requested,
                   "rounds": rounds, **params},
        "fill": {
            "truesize": run.truesize,
            "rcvbuf_requested": run.rcvbuf,
            "drops": sum(f.drops for f in run.fills),
            "lost": sum(f.lost for f in run.fills),
            "seconds": spread([f.seconds for f in run.fills]),
        },
        "modes": modes,
        "notes": run.notes + notes,
    }


def live_document(run: LiveRun, size: int, rounds: int, params: dict[str, Any],
                  notes: list[str]) -> dict[str, Any]:
    """The JSON document of a live run."""
    modes = []
    for s in run.samples:
        rs = s.rounds
        modes.append({
            **_mode_head(s),
            "sent": sum(r["sent"] for r in rs),
            "received": sum(r["received"] for r in rs),
            "lost": sum(r["lost"] for r in rs),
            "kernel_drops": sum(r["kernel_drops"] for r in rs),
            "rate": spread([r["rate"] for r in rs]),
            "rounds": [{"sent": r["sent"], "received": r["received"], "lost": r["lost"],
                        "kernel_drops": r["kernel_drops"], "seconds": round(r["seconds"], 6)}
                       for r in rs],
            "violations": sum(r.get("violations", 0) for r in rs),
        })
    _add_ratios(modes, "rate")
    return {
        "type": "bench",
        "schema": SCHEMA,
        "kind": "live",
        "params": {"size": size, "count": run.count, "rounds": rounds,
                   "rcvbuf_requested": run.rcvbuf, **params},
        "sender": {"rate": spread(run.sender_rates)},
        "modes": modes,
        "notes": run.notes + notes,
    }


MAX_DOCUMENT = 16 << 20  # bytes --compare reads at most: a saved result is a few KiB

_KINDS = ((stat.S_ISDIR, "Is a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"))


def _not_regular(path: str) -> Optional[str]:
    """What `path` is when it exists and is not a regular file ("a FIFO"), else None.
    Symbolic links are followed: their target is what gets replaced."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    for test, kind in _KINDS:
        if test(mode):
            return kind if kind.startswith("Is ") else f"not a regular file ({kind})"
    return None


def check_writable(path: str) -> None:
    """OsFailure now if `save(path)` is bound to fail: before minutes of measuring, not
    after. Creates nothing."""
    real = os.path.realpath(path)
    directory = os.path.dirname(real)
    problem = _not_regular(real)
    if problem is None and not os.path.isdir(directory):
        problem = "No such file or directory"
    elif problem is None and not os.access(directory, os.W_OK | os.X_OK):
        problem = "Permission denied"
    if problem:
        raise OsFailure(f"cannot save results to {path}: {problem}")


def save(path: str, doc: dict[str, Any]) -> None:
    """Write the document (pretty JSON) to `path`, whole or not at all: a temporary file
    in the same directory renamed over it, so a failed write leaves no partial file. Only
    a regular file is replaced (a symbolic link's target, the link kept); a device, a
    FIFO or a directory is refused."""
    shown = path
    path = os.path.realpath(path)
    problem = _not_regular(path)
    if problem:
        raise OsFailure(f"cannot save results to {shown}: {problem}")
    directory = os.path.dirname(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".wskrecv-bench-", dir=directory)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # what open() would have given, not mkstemp's 0600
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OsFailure(f"cannot save results to {shown}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def load(path: str) -> dict[str, Any]:
    """Read a document written by `--save`; anything else is a usage error."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_DOCUMENT + 1)  # bounded: /dev/zero must not fill the memory
        if len(raw) > MAX_DOCUMENT:
            raise UsageError(f"{path} is larger than {MAX_DOCUMENT >> 20} MiB: not a wskrecv "
                             "bench result (saved with --save)")
        doc = json.loads(raw)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    if not (isinstance(doc, dict) and doc.get("type") == "bench" and isinstance(doc.get("modes"), list)):
        raise UsageError(f"{path} is not a wskrecv bench result (saved with --save)")
    if doc.get("schema") != SCHEMA:
        raise UsageError(f"{path} has bench schema {doc.get('schema')!r}; this wskrecv reads {SCHEMA}")
    return doc


def _median(mode: dict[str, Any]) -> Optional[float]:
    try:
        return float(mode["rate"]["median"])
    except (KeyError, TypeError, ValueError):
        return None


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Mode by mode: old and new median rate, the change, and the ratios to the baselines
    (ratios measured within one run are the fairer comparison on a noisy machine)."""
    notes = []
    if old.get("kind") != new.get("kind"):
        notes.append(f"comparing a {old.get('kind')} run with a {new.get('kind')} run")
    for key in ("size", "count"):
        a, b = old.get("params", {}).get(key), new["params"].get(key)
        if a != b:
            notes.append(f"{key} differs: {a} then, {b} now")
    before = {m.get("name"): m for m in old["modes"] if isinstance(m, dict)}
    rows = []
    for m in new["modes"]:
        o = before.get(m["name"])
        if o is None:
            continue
        then, now = _median(o), _median(m)
        row: dict[str, Any] = {
            "name": m["name"], "label": m["label"], "before": then, "after": now,
            "change": round(now / then - 1, 4) if then and now is not None else None,
        }
        for b in BASELINES:
            row[f"vs_{b}_before"] = o.get(f"vs_{b}")
            row[f"vs_{b}_after"] = m.get(f"vs_{b}")
        if new.get("kind") == "live":
            row["lost_before"], row["lost_after"] = o.get("lost"), m.get("lost")
        rows.append(row)
    return {"rows": rows, "notes": notes}
