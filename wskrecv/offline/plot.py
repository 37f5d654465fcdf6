"""`wskrecv plot`: runs drawn with matplotlib (the optional extra `wskrecv[plot]`), one
panel per figure, the runs overlaid and labelled in each, as flent draws several runs.

Panels: the rate, the loss in each interval, the jitter, the one-way latency
percentiles (p50 solid, p90 dashed, p99 dotted), the kernel drops in each interval;
then, when a run has them, each stream's loss (`--per-stream`) and each worker's rate
(`--workers`). The x axis is the run's time in seconds (capture time for `analyze`).
PNG, SVG and PDF are matplotlib's own; HTML is a page around the SVG.

matplotlib is imported here only, through its object-oriented API (no pyplot, no GUI
backend): the rest of wskrecv never pays for it.
"""

from __future__ import annotations

import io
import os
from html import escape
from typing import Any, Callable, Optional

from wskrecv.offline.runs import Run, Series

FORMATS = ("png", "svg", "pdf", "html")
WIDTH = 1200  # pixels (at DPI)
PANEL_HEIGHT = 280  # pixels per panel
DPI = 100
INSTALL = "pip install 'wskrecv[plot]'"


class PlotUnavailable(Exception):
    """matplotlib is not installed."""


def _matplotlib() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never a display
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailable(f"plotting needs matplotlib: {INSTALL}") from None
    return Figure


Panel = tuple[str, str, Callable[[Run], list[tuple[str, Series, str]]], bool]

# (title, y label, the series of a run: (suffix of its label, series, line style), and
# whether each series gets its own colour: a run's several streams or workers; else a
# run's series share its colour and differ in style).
PANELS: list[Panel] = [
    ("Rate", "datagrams/s", lambda r: [("", r.rate, "-")], False),
    ("Loss per interval", "% of expected", lambda r: [("", r.loss, "-")], False),
    ("Jitter (RFC 3550)", "ms", lambda r: [("", r.jitter, "-")], False),
    ("One-way latency", "ms", lambda r: [(" p50", r.p50, "-"), (" p90", r.p90, "--"),
                                         (" p99", r.p99, ":")], False),
    ("Kernel drops per interval", "datagrams", lambda r: [("", r.drops, "-")], False),
]
STREAMS: Panel = ("Loss per stream", "% of expected",
                  lambda r: [(f" {name}", s, "-") for name, s in r.streams.items()], True)
WORKERS: Panel = ("Rate per worker", "datagrams/s",
                  lambda r: [(f" {name}", s, "-") for name, s in r.workers.items()], True)
COUNTED = ("datagrams/s", "datagrams")  # axes shown with SI prefixes (1.2 M)


def panels_for(runs: list[Run]) -> list[Panel]:
    """The panels these runs fill: the five always, streams and workers when present."""
    panels = list(PANELS)
    if any(r.streams for r in runs):
        panels.append(STREAMS)
    if any(r.workers for r in runs):
        panels.append(WORKERS)
    return panels


def figure(runs: list[Run], title: Optional[str], width: int) -> Any:
    """The matplotlib Figure of `runs`."""
    Figure = _matplotlib()
    panels = panels_for(runs)
    fig = Figure(figsize=(width / DPI, PANEL_HEIGHT * len(panels) / DPI), dpi=DPI,
                 layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    from matplotlib.ticker import EngFormatter

    for ax, (name, unit, series_of, own_colours) in zip(axes, panels):
        drawn, lowest, highest = 0, 0.0, 0.0
        for n, run in enumerate(runs):
            styles = ("-", "--", "-.", ":")
            for suffix, series, style in series_of(run):
                if not series:
                    continue
                ys = [float("nan") if y is None else y for y in series.ys]
                colour = f"C{drawn % 10}" if own_colours else f"C{n % 10}"
                if own_colours:  # runs told apart by style when each series has a colour
                    style = styles[n % len(styles)]
                ax.plot(series.xs, ys, style, color=colour, linewidth=1.4, label=f"{run.label}{suffix}")
                lowest = min([lowest, *(y for y in series.ys if y is not None)])
                highest = max([highest, *(y for y in series.ys if y is not None)])
                drawn += 1
        ax.set_title(name, loc="left", fontsize=10)
        ax.set_ylabel(unit)
        ax.grid(True, alpha=0.3)
        if unit in COUNTED:
            ax.yaxis.set_major_formatter(EngFormatter(sep=" "))
        if drawn:
            ax.set_ylim(bottom=lowest * 1.1)  # 0, or below it: a late datagram's negative loss
            if highest <= 0:
                ax.set_ylim(top=1)  # all zero (no drops): a whole scale, not milli-datagrams
            # Beside the panel, not over its lines.
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0)
        else:
            ax.text(0.5, 0.5, "none in these runs", transform=ax.transAxes, ha="center",
                    va="center", color="grey")
    axes[-1].set_xlabel("seconds")
    fig.suptitle(title or "wskrecv: " + ", ".join(f"{r.label} ({r.mode})" for r in runs), fontsize=11)
    return fig


def render(runs: list[Run], fmt: str, title: Optional[str] = None, width: int = WIDTH) -> bytes:
    """The plot of `runs` as a file of format `fmt` (FORMATS)."""
    fig = figure(runs, title, width)
    out = io.BytesIO()
    fig.savefig(out, format="svg" if fmt == "html" else fmt, dpi=DPI,
                metadata={"Creator": "wskrecv plot"} if fmt in ("svg", "pdf") else None)
    if fmt != "html":
        return out.getvalue()
    svg = out.getvalue().decode()
    svg = svg[svg.index("<svg"):]  # the page carries the drawing inline, no XML prolog
    name = escape(title or "wskrecv plot")
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
            f"<title>{name}</title></head>\n<body>\n{svg}\n</body>\n</html>\n").encode()


def write(path: str, data: bytes) -> None:
    """Write the file whole: into a temporary file beside it, then renamed, so a failed
    write leaves no half image behind (an OSError says why)."""
    where = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(where, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(temp, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


__all__ = ["DPI", "FORMATS", "INSTALL", "PANEL_HEIGHT", "WIDTH", "PlotUnavailable", "panels_for",
           "render", "write"]
