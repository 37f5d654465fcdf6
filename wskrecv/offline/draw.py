"""What `wskrecv plot` runs: read each run, draw, write; every bad input one UsageError
naming its file (exit 2)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Optional

from wskrecv.errors import UsageError
from wskrecv.offline.runs import Run, RunFileError, read_run


def read_runs(files: Sequence[str], labels: Sequence[str]) -> list[Run]:
    """The runs of `files`, labelled by `labels` or their file names."""
    runs = []
    for i, path in enumerate(files):
        label = labels[i] if i < len(labels) else ("stdin" if path == "-" else os.path.basename(path))
        try:
            if path == "-":
                runs.append(read_run(sys.stdin.buffer, "standard input", label))
                continue
            with open(path, "rb") as f:
                runs.append(read_run(f, path, label))
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror or exc}") from None
        except RunFileError as exc:
            raise UsageError(str(exc)) from None
    if not any(r.intervals for r in runs):
        names = ", ".join("standard input" if f == "-" else f for f in files)
        raise UsageError(f"nothing to plot: no interval objects in {names} (runs with -q or "
                         "-i 0 report none)")
    return runs


def draw(files: Sequence[str], labels: Sequence[str], output: str, fmt: str,
         title: Optional[str], width: int) -> None:
    """Read, draw, write `output`."""
    from wskrecv.offline.plot import PlotUnavailable, render, write

    runs = read_runs(files, labels)
    where = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(where) or not os.access(where, os.W_OK):  # said before drawing
        why = "No such file or directory" if not os.path.isdir(where) else "Permission denied"
        raise UsageError(f"cannot write {output}: {why}")
    try:
        data = render(runs, fmt, title, width)
    except PlotUnavailable as exc:
        raise UsageError(str(exc)) from None
    try:
        write(output, data)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


__all__ = ["draw", "read_runs"]
