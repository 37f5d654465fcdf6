"""The live dashboard's panels: a View (one frame's snapshot, start facts and rates) in,
a rich renderable out, each sized by what its caller gives it (a width, a number of rows).
Where they go on the screen is dashboard.py's; the receive style's panel is modepanel.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from wskrecv.output.format import address, duration, iperf3_text, ms, nbytes, pct, si
from wskrecv.stats.latency import Percentiles
from wskrecv.stats.snapshot import Snapshot

BLOCKS = "▁▂▃▄▅▆▇█"
LABEL = "grey62"
BAD = "bold red"
WARN = "yellow"
GOOD = "green"


@dataclass(frozen=True)
class View:
    """What one frame shows: the latest snapshot, the start line's facts, the current
    rates (from recent frames) and the rates of recent intervals (for the sparkline)."""

    snap: Snapshot
    info: dict[str, Any] = field(default_factory=dict)
    datagrams_per_s: float = 0.0
    bits_per_s: float = 0.0
    history: tuple[float, ...] = ()
    final: Optional[str] = None  # the stop reason, once the run is over


def sparkline(values: Sequence[float], width: int) -> str:
    """The last `width` values as block characters scaled to their maximum."""
    values = list(values)[-width:]
    top = max(values, default=0.0)
    if top <= 0:
        return BLOCKS[0] * len(values)
    last = len(BLOCKS) - 1
    return "".join(BLOCKS[min(last, int(v / top * last + 0.5))] for v in values)


def chart(values: Sequence[float], width: int, rows: int) -> Text:
    """The last values as a bar chart `rows` high (eighth-block resolution), newest on
    the right, with the scale on the left."""
    label_w = 11
    cols = max(1, width - label_w)
    values = list(values)[-cols:]
    top = max(values, default=0.0)
    eighths = [round(v / top * rows * 8) if top > 0 else 0 for v in values]
    pad = cols - len(values)
    out = Text()
    for r in range(rows):
        level = rows - 1 - r
        if r == 0:
            label = f"{si(top)} "[:label_w - 1].rjust(label_w - 1) + "┤"
        elif r == rows - 1:
            label = "0 ".rjust(label_w - 1) + "┤"
        else:
            label = " " * (label_w - 1) + "│"
        out.append(label, style=LABEL)
        line = [" "] * pad
        for h in eighths:
            if h >= (level + 1) * 8:
                line.append("█")
            elif h > level * 8:
                line.append(BLOCKS[h - level * 8 - 1])
            else:
                line.append(" ")
        out.append("".join(line), style="cyan")
        if r < rows - 1:
            out.append("\n")
    return out


def _count(value: int, bad: str = BAD) -> Text:
    """A counter that should stay zero: green when it does, `bad` when not."""
    return Text(f"{value:,}", style=bad if value else GOOD)


def _grid() -> Table:
    """Labels on the left, values flush right."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style=LABEL, no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    return grid


def traffic(view: View, spark_width: int, compact: bool = False) -> RenderableType:
    """Current rates, totals, and (when no chart has the room) a sparkline of intervals;
    `compact`: the first four only."""
    s = view.snap
    grid = _grid()
    grid.add_row("datagrams/s", Text(si(view.datagrams_per_s), style="bold cyan"))
    grid.add_row("bits/s", Text(si(view.bits_per_s, "bit/s"), style="bold cyan"))
    grid.add_row("received", f"{s.received:,}")
    grid.add_row("bytes", nbytes(s.bytes))
    if compact:
        return grid
    if not spark_width:
        grid.add_row("average", si(s.datagrams_per_s, "dg/s") if s.rate_measurable else "-")
        grid.add_row("truncated", _count(s.truncated, WARN))
        return grid
    return Group(grid, Text(sparkline(view.history, spark_width), style="cyan"))


def sequence(view: View, tall: bool) -> RenderableType:
    """Loss, reordering, duplicates, corrupt, late and unsequenced datagrams."""
    s = view.snap
    grid = _grid()
    if not s.sequenced:
        why = "no sequence analysis" if s.seq_format == "none" else (
            f"no {s.seq_format} headers seen" if s.seq_format != "auto" else "no wskrecv headers seen")
        grid.add_row("format", s.seq_format)
        grid.add_row(Text(why, style="italic grey50"), "")
        grid.add_row("unsequenced", f"{s.unsequenced:,}")
        grid.add_row("streams", "0")
        return grid
    lost = Text(f"{s.lost:,} ", style=BAD if s.lost else GOOD)
    lost.append(f"{pct(s.loss_pct):>7}", style=BAD if s.lost else LABEL)
    grid.add_row("lost", lost)
    reord = Text(f"{s.reordered:,} ", style=WARN if s.reordered else GOOD)
    reord.append(f"{pct(s.reorder_pct):>7}", style=WARN if s.reordered else LABEL)
    grid.add_row("reordered", reord)
    grid.add_row("duplicates", _count(s.duplicates, WARN))
    grid.add_row("corrupt", _count(s.corrupt))
    grid.add_row("late / unseq", f"{s.late:,} / {s.unsequenced:,}")
    if tall:
        grid.add_row("streams", f"{s.streams:,} ({s.seq_format})")
    return grid


def _lat_row(p: Optional[Percentiles]) -> list[str]:
    if p is None:
        return ["-"] * 4
    return [ms(p.p50), ms(p.p90), ms(p.p99), ms(p.max)]


def timing(view: View, roomy: bool) -> RenderableType:
    """Latency percentiles in ms (the run; with room, the last interval too) and jitter."""
    s = view.snap
    table = Table(box=None, padding=(0, 0, 0, 1), pad_edge=False, expand=True, show_edge=False)
    table.add_column("ms", style=LABEL, no_wrap=True)
    for name in ("p50", "p90", "p99", "max"):
        table.add_column(name, justify="right", header_style=LABEL, no_wrap=True)
    table.add_row("one-way", *_lat_row(s.latency))
    if roomy:
        table.add_row("  interval", *_lat_row(s.interval_latency))
    table.add_row("app", *_lat_row(s.app_latency))
    if roomy:
        table.add_row("  interval", *_lat_row(s.interval_app_latency))
    jitter = Text("jitter ", style=LABEL)
    jitter.append(duration(s.jitter_ns), style="bold")
    if s.jitter_ns is not None:
        jitter.append(" (RFC 3550)", style=LABEL)
    return Group(table, jitter)


def _compact(n: int) -> str:
    """A whole count in at most 4 characters, rounded down: 9999, 12k, 813k, 3M, 12G."""
    for limit, div, unit in ((10_000, 1, ""), (1_000_000, 1000, "k"),
                             (1_000_000_000, 1_000_000, "M")):
        if n < limit:
            return f"{n // div}{unit}"
    return f"{n // 1_000_000_000}G"


def drops(view: View, roomy: bool) -> RenderableType:
    """This socket's own losses first (kernel drops, what was left unread at exit), then,
    apart and marked so, the host's UDP error counters: they count every socket."""
    s = view.snap
    grid = _grid()
    if roomy and view.info.get("rcvbuf"):
        grid.add_row("socket rcvbuf", nbytes(view.info["rcvbuf"]))
    grid.add_row("kernel (socket)", _count(s.kernel_drops))
    if s.kernel_drops_before_run is not None:
        # An inherited socket: its drops before this run, apart (not counted above). It
        # is never drained at exit, so this row takes the place of "unread at exit".
        grid.add_row("before this run", _count(s.kernel_drops_before_run, WARN))
    else:
        grid.add_row("unread at exit", "-" if s.unread_at_exit is None else _count(s.unread_at_exit))
    apart = Text("all sockets on this host:", style="italic " + LABEL, no_wrap=True)
    h = s.host_udp
    if h is None:
        return Group(grid, apart, Text("UDP counters unreadable", style="italic grey50"))
    counters = (("rcvbuf", "rcvbuf_errors"), ("csum", "in_csum_errors"), ("no port", "no_ports"))
    if not roomy:  # one line: each count whole, in at most 4 characters
        line = Text(no_wrap=True)
        for i, (name, key) in enumerate(counters):
            value = h.get(key, 0)
            line.append(("  " if i else "") + f"{name} ", style=LABEL)
            line.append(_compact(value), style=WARN if value else GOOD)
        return Group(grid, apart, line)
    host = _grid()
    for name, key in counters:
        host.add_row(f"  {name} errors" if name != "no port" else "  no port",
                     _count(h.get(key, 0), WARN))
    host.add_row("  received", f"{h.get('in_datagrams', 0):,}")
    return Group(grid, apart, host)


def sizes(view: View, rows: int) -> RenderableType:
    """Minimum, mean and maximum, and the fullest `rows` power-of-two size ranges."""
    z = view.snap.sizes
    head = Text("min ", style=LABEL)
    head.append(f"{z.min}", style="bold")
    head.append("  avg ", style=LABEL)
    head.append(f"{z.mean:.0f}", style="bold")
    head.append("  max ", style=LABEL)
    head.append(f"{z.max}", style="bold")
    buckets = z.buckets()
    if len(buckets) > rows:  # keep the fullest buckets, in size order
        keep = sorted(sorted(buckets, key=lambda b: -b[2])[:rows])
        buckets = keep
    top = max((c for _, _, c in buckets), default=0)
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(style=LABEL, justify="right", no_wrap=True)
    table.add_column(ratio=1, no_wrap=True, overflow="crop")
    table.add_column(justify="right", no_wrap=True)
    for lo, hi, c in buckets:
        bar = Text("█" * max(1, round(c / top * 20)) if top else "", style="cyan")
        table.add_row(f"{lo}-{hi}", bar, f"{c:,}")
    return Group(head, table)


def sources(view: View, rows: int) -> RenderableType:
    """The busiest senders in `rows` lines: the last says how many more there are."""
    s = view.snap
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(justify="right", style=LABEL, no_wrap=True)
    if s.sources_seen > rows:
        rows -= 1  # room for the "+N more" line
    for row in s.sources[:rows]:
        share = 100.0 * row.datagrams / s.received if s.received else 0.0
        table.add_row(address(row.address, row.port), f"{row.datagrams:,}", f"{share:.0f}%")
    if not s.sources:
        table.add_row(Text("nothing yet", style="italic grey50"), "", "")
    more = s.sources_seen - min(rows, len(s.sources))
    if more > 0:
        note = f"+{more:,} more" + (f", {s.sources_evicted:,} evicted" if s.sources_evicted else "")
        table.add_row(Text(note, style=LABEL), "", "")
    return table


def header(view: View, width: int) -> Table:
    """One line: what is received where, and for how long (detail when there is room;
    below 80 columns only the mode, address and time, so that no number is cut)."""
    s = view.snap
    info = view.info
    left = Text(" wskrecv " if width >= 60 else "", style="bold black on cyan")
    left.append(f" {s.mode} ", style="bold")
    if info:
        left.append(address(str(info.get("address", "?")), int(info.get("port", 0))), style="bold")
        detail = info.get("detail")
        if detail and width >= 120:
            left.append(f"  {detail}", style=LABEL)
    if width >= 80:
        left.append(f"  seq {s.seq_format}", style=LABEL)
    if s.iperf3 is not None:
        left.append("  " + iperf3_text(s.iperf3, short=width < 120), style="bold magenta")
    right = Text(f"{s.elapsed_s:,.1f} s", style="bold")
    if view.final:
        # On a narrow terminal the reason goes first, then the address: never cut.
        for done in (f"done: {view.final}  ", "done  ", ""):
            if len(left) + len(done) + len(right) + 1 <= width:
                break
        right = Text(done, style="bold yellow") + right
    if len(left) + len(right) + 1 > width:
        left = Text(f" {s.mode} ", style="bold")
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(justify="right", no_wrap=True)
    grid.add_row(left, right)
    return grid
