"""The live dashboard's layout: frozen snapshots in, a rich renderable out.

Pure rendering (no terminal, no clock): `render(view, width, height)` lays the panels
out for the space there is. At 80x24 everything fits in two columns of small panels;
from 120 columns there are three, a chart of the interval rates takes the rows to spare,
and taller terminals list more sources and size ranges. The process that draws it is
`wskrecv.output.screen`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.layout import Layout
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from wskrecv.output.format import address, duration, iperf3_text, ms, nbytes, pct, si
from wskrecv.stats.latency import Percentiles
from wskrecv.stats.modes import ClientStatistics, EventStatistics, IrpStatistics, ModeStatistics
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


def _panel(body: RenderableType, title: str) -> Panel:
    return Panel(body, title=f"[bold]{title}[/]", title_align="left", box=box.ROUNDED,
                 border_style="grey42", padding=(0, 1))


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
        grid.add_row("average", si(s.datagrams_per_s, "dg/s"))
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


# The event style reports its buffer pool as pool_in_use and pool_high_water, and --pool
# (its size) in the start object: a bar shows use and the high-water mark.


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


MAX_WORKER_LINES = 8  # --workers lines in the mode panel; beyond, one line sums the rest


def _mode_items(stats: Optional[ModeStatistics]) -> list[tuple[str, Any, bool]]:
    """(label, value, bad) for the receive style's counters, read by field."""
    if isinstance(stats, IrpStatistics):
        items: list[tuple[str, Any, bool]] = [
            ("outstanding", stats.outstanding, False),
            ("completed", stats.completions, False),
            ("cancelled", stats.cancellations, False),
            ("failed", stats.failures, stats.failures > 0),
        ]
    elif isinstance(stats, EventStatistics):
        items = [
            ("callbacks", stats.callbacks, False),
            ("mean list length", stats.mean_list_length, False),
            ("pended", stats.pended, False),
            ("released", stats.released, False),
        ]
        if stats.released_in_callback:
            items.append(("in callback", stats.released_in_callback, False))
        items += [
            ("rejected", stats.rejected, False),
            ("leaked", stats.leaked, stats.leaked > 0),
        ]
        if stats.null_indications:
            items.append(("NULL indications", stats.null_indications, False))
    elif isinstance(stats, ClientStatistics):  # wskrecv run: the styles the client uses
        items = [("outstanding", stats.outstanding, False), ("completed", stats.completions, False)]
        if stats.callbacks:
            items += [("callbacks", stats.callbacks, False), ("pended", stats.pended, False),
                      ("released", stats.released, False), ("held", stats.held, False)]
        items.append(("leaked", stats.leaked, stats.leaked > 0))
        if stats.client.get("fault"):
            items.append(("client fault", stats.client["fault"]["exception"], True))
        return items
    else:
        return []
    if stats.last_failure is not None:
        items.append(("last failure", stats.last_failure, True))
    return items


def _flow(items: list[Text], width: int) -> Text:
    """Items separated by two spaces, wrapped between items (never inside one)."""
    out = Text()
    col = 0
    for item in items:
        if col and col + 2 + len(item) > width:
            out.append("\n")
            col = 0
        elif col:
            out.append("  ")
            col += 2
        out.append_text(item)
        col += len(item)
    return out


def mode_panel(view: View, width: int, worker_lines: int = MAX_WORKER_LINES) -> Text:
    """The receive style's own counters (snapshot.mode_stats, read by field): the event
    style's buffer pool as a bar (its size, --pool, comes in the start object) with the
    high-water mark, then the counters; with --workers a line per worker (at most
    `worker_lines`; with fewer than 2 lines to spare, one item sums them up)."""
    stats = view.snap.mode_stats
    items: list[Text] = []
    size = view.info.get("pool")
    if isinstance(stats, EventStatistics) and isinstance(size, int) and size > 0:
        used = stats.pool_in_use
        high = stats.pool_high_water
        bar_w = max(10, min(30, width // 5))
        filled = min(bar_w, round(used / size * bar_w))
        cells = ["█" if i < filled else "·" for i in range(bar_w)]
        mark = min(bar_w, round(high / size * bar_w))
        if mark > filled:
            cells[mark - 1] = "▏"
        pool = Text("pool ", style=LABEL)
        pool.append("".join(cells), style=WARN if used >= size else "cyan")
        pool.append(f" {used:,}/{size:,}", style="bold")
        pool.append(" high ", style=LABEL)
        pool.append(f"{high:,}", style="bold")
        items.append(pool)
    for label, value, bad in _mode_items(stats):
        item = Text(label + " ", style=LABEL)
        item.append(_value(value), style=BAD if bad else "bold")
        items.append(item)
    v = view.snap.violations
    item = Text("violations ", style=LABEL)
    item.append(f"{v:,}", style=BAD if v else GOOD)
    if v:
        rules = ", ".join(f"{k} {n}" for k, n in view.snap.violations_by_rule.items())
        item.append(f" ({rules})", style=BAD)
    items.append(item)
    workers = view.snap.workers
    if workers and worker_lines < 2:
        item = Text(f"{len(workers)} workers ", style=LABEL)
        item.append(" ".join(si(w.datagrams_per_s) for w in workers[:4])
                    + (" ..." if len(workers) > 4 else "") + " dg/s", style="bold cyan")
        dead = sum(not w.alive for w in workers)
        if dead:
            item.append(f" {dead} DEAD", style=BAD)
        items.append(item)
        workers = ()
    text = _flow(items, width - 4)
    limit = min(worker_lines, MAX_WORKER_LINES)
    shown = workers if len(workers) <= limit else workers[: limit - 1]
    for w in shown:  # --workers: a line each
        text.append(f"\nworker {w.worker} ", style=LABEL)
        text.append(f"{si(w.datagrams_per_s, 'dg/s'):>12}", style="bold cyan")
        text.append("  received ", style=LABEL)
        text.append(f"{w.received:,}", style="bold")
        text.append("  drops ", style=LABEL)
        text.append(f"{w.kernel_drops:,}", style=BAD if w.kernel_drops else GOOD)
        text.append("  cpu ", style=LABEL)
        text.append(f"{w.cpu_pct:.0f}%", style="bold")
        if not w.alive:
            text.append("  DEAD", style=BAD)
    if len(shown) < len(workers):
        rest = workers[len(shown):]
        text.append(f"\n+{len(rest)} more workers: {si(sum(w.datagrams_per_s for w in rest), 'dg/s')}",
                    style=LABEL)
        dead = sum(not w.alive for w in rest)
        if dead:
            text.append(f", {dead} DEAD", style=BAD)
    return text


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


def render(view: View, width: int = 80, height: int = 24) -> RenderableType:
    """The whole dashboard for a terminal of `width` x `height`.

    Narrow (< 120 columns): two columns of panels, a sparkline in Traffic; 80x24 fits
    exactly. Wide: three columns, and a rate chart across when there are rows for it.
    Extra rows go to the size histogram and the source list first, then the chart.
    A Layout of fixed-size regions renders each panel once at its size, which costs far
    less than letting nested tables measure their contents.
    """
    title = {"irp": "IRP style", "event": "Event style"}.get(view.snap.mode, view.snap.mode)
    if width < 80 or height < 24:
        return _small(view, width, height, title)
    wide = width >= 120
    # The other rows need at least this many lines; what is left may list workers.
    others = 1 + 1 + (8 + 4 if wide else 7 + 6 + 4)
    spare = height - others - (str(mode_panel(view, width, 0)).count("\n") + 3)
    mode_text = mode_panel(view, width, spare)
    mode_h = str(mode_text).count("\n") + 3
    rows: list[Layout] = [Layout(header(view, width), size=1)]
    free = height - 1 - 1 - mode_h  # one line stays free for the cursor
    if wide:
        col = (width - 2) // 3
        h1 = 8
        lists = max(1, min(10, free - h1 - 3))
        # The chart takes what is left, if that is enough to be worth drawing.
        left = free - h1 - (lists + 3)
        chart_rows = left - 2 if left >= 6 else 0
        rows.append(_row(h1,
            _panel(traffic(view, 0 if chart_rows else col - 4), "Traffic"),
            _panel(sequence(view, True), "Sequence"),
            _panel(timing(view, True), "Latency"),
        ))
        if chart_rows:
            rows.append(Layout(_panel(chart(view.history, width - 4, chart_rows),
                                      "Datagrams/s per interval, newest right"),
                               size=chart_rows + 2))
        rows.append(_row(lists + 3,
            _panel(sizes(view, lists), "Sizes (bytes)"),
            _panel(sources(view, lists + 1), "Top sources"),
            _panel(drops(view, True), "Drops"),
        ))
    else:
        half = (width - 1) // 2
        tall = free >= 7 + 6 + 3 + 3 + 1
        h_a = 8 if tall else 7
        lists = max(1, min(10, free - h_a - 6 - 3))
        rows += [
            _row(h_a, _panel(traffic(view, max(8, half - 4)), "Traffic"),
                 _panel(sequence(view, tall), "Sequence")),
            _row(6, _panel(timing(view, False), "Latency"), _panel(drops(view, False), "Drops")),
            _row(lists + 3, _panel(sizes(view, lists), "Sizes (bytes)"),
                 _panel(sources(view, lists + 1), "Top sources")),
        ]
    rows.append(Layout(_panel(mode_text, title), size=mode_h))
    used = sum(r.size or 0 for r in rows)
    root = Layout()
    root.split_column(*rows)
    return _Sized(root, used)


def _small(view: View, width: int, height: int, title: str) -> RenderableType:
    """Below 80x24: one column of whole panels, the most important first, as many as fit
    (a panel that does not fit is left out, never cut: numbers stay whole)."""
    free = height - 1 - 1  # the header, and the line kept free for the cursor
    panels = [
        _panel(traffic(view, 0, compact=True), "Traffic"),
        _panel(sequence(view, False), "Sequence"),
        _panel(drops(view, False), "Drops"),
        _panel(timing(view, False), "Latency"),
        _panel(sources(view, 3), "Top sources"),
        _panel(mode_panel(view, width, 0), title),
    ]
    measure = Console(width=width, height=height, file=io.StringIO(), color_system=None)
    rows: list[Layout] = [Layout(header(view, width), size=1)]
    for panel in panels:
        size = len(measure.render_lines(panel, measure.options.update(width=width), pad=False))
        if size <= free:
            rows.append(Layout(panel, size=size))
            free -= size
    used = sum(r.size or 0 for r in rows)
    root = Layout()
    root.split_column(*rows)
    return _Sized(root, used)


def _row(size: int, *panels: RenderableType) -> Layout:
    row = Layout(size=size)
    row.split_row(*(Layout(p) for p in panels))
    return row


class _Sized:
    """A renderable of a fixed height (a Layout would fill the whole terminal)."""

    def __init__(self, renderable: RenderableType, height: int) -> None:
        self.renderable = renderable
        self.height = height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from console.render(self.renderable, options.update(height=self.height))
