"""The live dashboard's panels: a View (one frame's snapshot, start facts and rates) in,
a rich renderable out, each sized by what its caller gives it (a width, a number of rows).
Where they go on the screen is dashboard.py's; the receive style's panel is modepanel.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from wskrecv.output.format import address, duration, iperf3_text, ms, nbytes, pct, si
from wskrecv.stats.latency import Percentiles
from wskrecv.stats.snapshot import Snapshot
from wskrecv.stats.streams import worst

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
    history: tuple[float, ...] = ()  # datagrams/s of recent intervals, oldest first
    final: Optional[str] = None  # the stop reason, once the run is over
    bits_history: tuple[float, ...] = ()  # ... their bits/s
    loss_history: tuple[float, ...] = ()  # ... and their loss, in percent

    def series(self) -> list[Series]:
        """What the chart (and the sparkline, the first) shows, from --chart (the start
        information's "chart"): one quantity; auto: the run's own unit (bits/s for an
        iperf3 server, whose client speaks in bits, else datagrams/s) and, once an
        interval lost anything, its loss beside it."""
        by_kind = {
            "datagrams": Series("Datagrams/s", "dg/s", self.history),
            "bits": Series("Bits/s", "bit/s", self.bits_history),
            "loss": Series("Loss (%)", "loss", self.loss_history),
        }
        kind = str(self.info.get("chart", "auto"))
        if kind in by_kind:
            return [by_kind[kind]]
        iperf3 = self.snap.iperf3 is not None or "iperf3_port" in self.info
        out = [by_kind["bits" if iperf3 else "datagrams"]]
        if any(v > 0 for v in self.loss_history):
            out.append(by_kind["loss"])
        return out


@dataclass(frozen=True)
class Series:
    """One quantity per interval, as a chart or a sparkline shows it."""

    title: str  # the chart's title: "Bits/s"
    label: str  # the sparkline's: "bit/s"
    values: tuple[float, ...]

    def scale(self, top: float) -> str:
        """The chart's top value, as its left edge shows it."""
        return f"{top:.3g}%" if self.label == "loss" else si(top)


def sparkline(values: Sequence[float], width: int) -> str:
    """The last `width` values as block characters scaled to their maximum."""
    values = list(values)[-width:]
    top = max(values, default=0.0)
    if top <= 0:
        return BLOCKS[0] * len(values)
    last = len(BLOCKS) - 1
    return "".join(BLOCKS[min(last, int(v / top * last + 0.5))] for v in values)


def chart(values: Sequence[float], width: int, rows: int,
          scale: Callable[[float], str] = si) -> Text:
    """The last values as a bar chart `rows` high (eighth-block resolution), newest on
    the right, with the scale on the left (the top value as `scale` writes it)."""
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
            label = f"{scale(top)} "[:label_w - 1].rjust(label_w - 1) + "┤"
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
        # A span from the first datagram to the last too short for a rate: none shown.
        burst = s.active_s is not None and not s.rate_measurable
        grid.add_row("average", "-" if burst else si(s.datagrams_per_s, "dg/s"))
        grid.add_row("truncated", _count(s.truncated, WARN))
        return grid
    series = view.series()[0]
    line = Text(f"{series.label} ", style=LABEL)
    line.append(sparkline(series.values, max(1, spark_width - len(line))), style="cyan")
    return Group(grid, line)


def sequence(view: View, tall: bool, compact: bool = False) -> RenderableType:
    """Loss, reordering, duplicates, corrupt, late and unsequenced datagrams; `compact`
    (a small terminal): percentages unpadded, late/unsequenced only when there are any."""
    s = view.snap
    grid = _grid()
    if not s.sequenced:
        why = "no sequence analysis" if s.seq_format == "none" else (
            f"no {s.seq_format} headers seen" if s.seq_format != "auto" else "no wskrecv headers seen")
        grid.add_row("format", s.seq_format)
        grid.add_row(Text(why, style="italic grey50"), "")
        grid.add_row("unsequenced", f"{s.unsequenced:,}")
        if s.reply_requests:
            grid.add_row(Text("asked to reply", style=WARN), Text(f"{s.reply_requests:,}", style=WARN))
        else:
            grid.add_row("streams", "0")
        return grid
    pad = 0 if compact else 7
    lost = Text(f"{s.lost:,} ", style=BAD if s.lost else GOOD)
    lost.append(f"{pct(s.loss_pct):>{pad}}", style=BAD if s.lost else LABEL)
    grid.add_row("lost", lost)
    reord = Text(f"{s.reordered:,} ", style=WARN if s.reordered else GOOD)
    reord.append(f"{pct(s.reorder_pct):>{pad}}", style=WARN if s.reordered else LABEL)
    grid.add_row("reordered", reord)
    grid.add_row("duplicates", _count(s.duplicates, WARN))
    grid.add_row("corrupt", _count(s.corrupt))
    if s.reply_requests:  # sockperf ping-pong: wskrecv only receives (the summary says so)
        grid.add_row(Text("asked to reply", style=WARN), Text(f"{s.reply_requests:,}", style=WARN))
    if not compact or s.late or s.unsequenced:
        grid.add_row("late / unseq", f"{s.late:,} / {s.unsequenced:,}")
    if tall:
        grid.add_row("streams", f"{s.streams_tracked:,} ({s.seq_format})")
    return grid


def _lat_row(p: Optional[Percentiles]) -> list[str]:
    if p is None:
        return ["-"] * 4
    return [ms(p.p50), ms(p.p90), ms(p.p99), ms(p.max)]


def timing(view: View, roomy: bool, compact: bool = False) -> RenderableType:
    """Latency percentiles in ms (the run; with room, the last interval too) and jitter;
    `compact` (a small terminal): p50, p99 and max."""
    s = view.snap
    table = Table(box=None, padding=(0, 0, 0, 1), pad_edge=False, expand=True, show_edge=False)
    table.add_column("ms", style=LABEL, no_wrap=True)
    names = ("p50", "p99", "max") if compact else ("p50", "p90", "p99", "max")
    for name in names:
        table.add_column(name, justify="right", header_style=LABEL, no_wrap=True)

    def row(p: Optional[Percentiles]) -> list[str]:
        cells = _lat_row(p)
        return [cells[0], cells[2], cells[3]] if compact else cells

    table.add_row("one-way", *row(s.latency))
    if roomy:
        table.add_row("  interval", *row(s.interval_latency))
    table.add_row("app", *row(s.app_latency))
    if roomy:
        table.add_row("  interval", *row(s.interval_app_latency))
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


def drops(view: View, roomy: bool, compact: bool = False) -> RenderableType:
    """This socket's own losses first (kernel drops, what was left unread at exit), then,
    apart and marked so, the host's UDP error counters: they count every socket (not
    when `compact`, on a small terminal: this socket's own losses only)."""
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
    if compact:
        return grid
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
    """Minimum, mean and maximum, and the fullest power-of-two size ranges in `rows`
    lines: when there are more ranges, the last line says how many more and how many
    datagrams they hold."""
    z = view.snap.sizes
    head = Text("min ", style=LABEL)
    head.append(f"{z.min}", style="bold")
    head.append("  avg ", style=LABEL)
    head.append(f"{z.mean:.0f}", style="bold")
    head.append("  max ", style=LABEL)
    head.append(f"{z.max}", style="bold")
    buckets = z.buckets()
    hidden: list[tuple[int, int, int]] = []
    if len(buckets) > rows:  # keep the fullest buckets, in size order, and say the rest
        ranked = sorted(buckets, key=lambda b: -b[2])
        keep = max(0, rows - 1)
        buckets, hidden = sorted(ranked[:keep]), ranked[keep:]
    top = max((c for _, _, c in buckets), default=0)
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(style=LABEL, justify="right", no_wrap=True)
    table.add_column(ratio=1, no_wrap=True, overflow="crop")
    table.add_column(justify="right", no_wrap=True)
    for lo, hi, c in buckets:
        bar = Text("█" * max(1, round(c / top * 20)) if top else "", style="cyan")
        table.add_row(f"{lo}-{hi}", bar, f"{c:,}")
    if hidden:
        table.add_row(Text(f"+{len(hidden)} more", style=LABEL), "",
                      Text(f"{sum(c for _, _, c in hidden):,}", style=LABEL))
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


def streams(view: View, rows: int, wide: bool) -> RenderableType:
    """The streams worst by loss (the snapshot carries the worst few) in `rows` lines:
    source #stream id, lost, loss; `wide` adds received, reordered, duplicates, late and
    jitter. The last line says how many more streams there are."""
    s = view.snap
    room = rows - 1  # the column names take a line
    if s.streams_tracked > room:
        room -= 1  # and the "+N more" line one
    shown = worst(s.stream_rows)[:max(0, room)]
    more = s.streams_tracked - len(shown)
    table = Table(box=None, padding=(0, 0, 0, 1), pad_edge=False, expand=True,
                  show_edge=False, header_style=LABEL)
    table.add_column("source #stream", no_wrap=True, overflow="ellipsis", ratio=1)
    names = ("received", "lost", "loss", "reord", "dup", "late", "jitter", "owd p99") if wide else (
        "lost", "loss")
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for r in shown:
        lost = Text(f"{r.lost:,}", style=BAD if r.lost else GOOD)
        loss = Text(pct(r.loss_pct), style=BAD if r.lost else LABEL)
        cells: list[Any] = [f"{r.received:,}", lost, loss, _count(r.reordered, WARN),
                            _count(r.duplicates, WARN), _count(r.late, WARN),
                            duration(r.jitter_ns),
                            f"{ms(r.latency.p99)} ms" if r.latency is not None else "-"
                            ] if wide else [lost, loss]
        table.add_row(f"{address(r.address, r.port)} #{r.stream}", *cells)
    if more > 0:
        gone = s.streams_retired.streams
        note = f"+{more:,} more" + (f", {gone:,} retired" if gone else "")
        table.add_row(Text(note, style=LABEL), *([""] * len(names)))
    return table


def header(view: View, width: int) -> Table:
    """One line: what is received where, and for how long. Its parts by importance: the
    time (and, at the end, "done: reason"), the mode, the address:port, the program's name,
    the sequence format, the iperf3 state, the start line's detail; what does not fit is
    left out from the least important up, never cut, so each part shown is whole."""
    s = view.snap
    info = view.info
    where = address(str(info.get("address", "?")), int(info.get("port", 0))) if info else ""
    iperf3_long = iperf3_short = ""
    if s.iperf3 is not None:
        iperf3_long, iperf3_short = iperf3_text(s.iperf3), iperf3_text(s.iperf3, short=True)
    detail = str(info.get("detail") or "")
    elapsed = f"{s.elapsed_s:,.1f} s"
    seq = f"seq {s.seq_format}"
    done = f"done: {view.final}  " if view.final else ""
    short_done = "done  " if view.final else ""
    # Fullest first; each later choice gives up the least important part still there.
    choices = [
        (True, where, detail, seq, iperf3_long, done),
        (True, where, "", seq, iperf3_long, done),
        (True, where, "", seq, iperf3_short, done),
        (True, where, "", "", iperf3_short, done),
        (True, where, "", "", "", done),
        (False, where, "", "", "", done),
        (False, where, "", "", "", short_done),
        (False, where, "", "", "", ""),
        (False, "", "", "", "", short_done),
        (False, "", "", "", "", ""),
    ]
    for name, place, more, seq_part, iperf3, ending in choices:
        left = Text(" wskrecv " if name else "", style="bold black on cyan")
        left.append(f" {s.mode} ", style="bold")
        if place:
            left.append(place, style="bold")
        if more:
            left.append(f"  {more}", style=LABEL)
        if seq_part:
            left.append(f"  {seq_part}", style=LABEL)
        if iperf3:
            left.append(f"  {iperf3}", style="bold magenta")
        right = Text(ending, style="bold yellow") + Text(elapsed, style="bold")
        if len(left) + len(right) + 1 <= width:
            break
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(justify="right", no_wrap=True)
    grid.add_row(left, right)
    return grid
