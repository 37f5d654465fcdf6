"""The live dashboard's layout: frozen snapshots in, a rich renderable out.

Pure rendering (no terminal, no clock): `render(view, width, height)` lays the panels
(panels.py, modepanel.py) out for the space there is. At 80x24 everything fits in two
columns of small panels; from 120 columns there are three, a chart of the interval rates
takes the rows to spare, and taller terminals list more sources and size ranges; below
80x24, as many whole panels as fit. The process that draws it is `wskrecv.output.screen`.
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.layout import Layout
from rich.panel import Panel
from rich.text import Text

from wskrecv.output.modepanel import mode_panel
from wskrecv.output.panels import (
    View,
    chart,
    drops,
    header,
    sequence,
    sizes,
    sources,
    streams,
    timing,
    traffic,
)

__all__ = ["View", "render"]


def _panel(body: RenderableType, title: str) -> Panel:
    """A panel's frame: a rounded box, its title on the left."""
    return Panel(body, title=f"[bold]{title}[/]", title_align="left", box=box.ROUNDED,
                 border_style="grey42", padding=(0, 1))


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
        left = free - h1 - (lists + 3)
        # Several streams: their panel before the chart (its rows and the column names).
        stream_rows = min(left - 2, stream_lines(view)) if several_streams(view) else 0
        if stream_rows >= 3:
            left -= stream_rows + 2
        else:
            stream_rows = 0
        # The chart takes what is left, if that is enough to be worth drawing.
        chart_rows = left - 2 if left >= 6 else 0
        rows.append(_row(h1,
            _panel(traffic(view, 0 if chart_rows else col - 4), "Traffic"),
            _panel(sequence(view, True), "Sequence"),
            _panel(timing(view, True), "Latency"),
        ))
        if stream_rows:
            rows.append(Layout(_panel(streams(view, stream_rows, True), "Streams, worst loss first"),
                               size=stream_rows + 2))
        if chart_rows:
            series = view.series()
            each = width // len(series)
            rows.append(_row(chart_rows + 2, *(
                _panel(chart(c.values, each - 4, chart_rows, c.scale),
                       f"{c.title} per interval, newest right") for c in series)))
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
        # Several streams: which is losing matters more than the size histogram.
        first = (_panel(streams(view, lists + 1, False), "Streams") if several_streams(view)
                 else _panel(sizes(view, lists), "Sizes (bytes)"))
        rows += [
            _row(h_a, _panel(traffic(view, max(8, half - 4)), "Traffic"),
                 _panel(sequence(view, tall), "Sequence")),
            _row(6, _panel(timing(view, False), "Latency"), _panel(drops(view, False), "Drops")),
            _row(lists + 3, first, _panel(sources(view, lists + 1), "Top sources")),
        ]
    rows.append(Layout(_panel(mode_text, title), size=mode_h))
    used = sum(r.size or 0 for r in rows)
    root = Layout()
    root.split_column(*rows)
    return _Sized(root, used)


def _small(view: View, width: int, height: int, title: str) -> RenderableType:
    """Below 80x24: whole panels, ranked by what matters when room is short (the rates,
    then loss, drops, latency, the receive style, then sizes and sources), two to a row
    when both fit half the width, as many rows as fit; a panel is left out, never cut
    (numbers stay whole), and what is left out is named in one line at the bottom."""
    free = height - 1 - 1  # the header, and the line kept free for the cursor
    ranked = [
        ("Traffic", traffic(view, 0, compact=True)),
        ("Sequence", sequence(view, False, compact=True)),
        ("Drops", drops(view, False, compact=True)),
        ("Latency", timing(view, False, compact=True)),
        (title, mode_panel(view, width, 0)),
        *([("Streams", streams(view, 4, False))] if several_streams(view) else []),
        ("Sizes (bytes)", sizes(view, 3)),
        ("Top sources", sources(view, 3)),
    ]
    measure = Console(width=width, height=height, file=io.StringIO(), color_system=None)
    half = width // 2

    def natural(body: RenderableType) -> int:  # its width with nothing wrapped or cut
        return measure.measure(body, options=measure.options.update(width=200)).maximum + 4

    def tall(body: RenderableType, title: str, w: int) -> int:
        panel = _panel(body, title)
        return len(measure.render_lines(panel, measure.options.update(width=w), pad=False))

    groups: list[list[tuple[str, RenderableType]]] = []
    i = 0
    while i < len(ranked):
        pair = ranked[i:i + 2]
        if len(pair) == 2 and all(natural(body) <= half for _, body in pair):
            groups.append(pair)
            i += 2
        else:
            groups.append(pair[:1])
            i += 1
    rows: list[Layout] = [Layout(header(view, width), size=1)]
    hidden: list[str] = []
    for n, group in enumerate(groups):
        w = width if len(group) == 1 else half
        size = max(tall(body, name, w) for name, body in group)
        room = free if n == len(groups) - 1 else free - 1  # a line for the note
        if hidden or size > room:
            hidden += [name for name, _ in group]
            continue
        rows.append(_row(size, *(_panel(body, name) for name, body in group))
                    if len(group) == 2 else Layout(_panel(group[0][1], group[0][0]), size=size))
        free -= size
    if hidden:
        note = f"not shown (a bigger terminal shows them): {', '.join(hidden)}"
        if len(note) > width:
            note = f"{len(hidden)} panels not shown: {', '.join(hidden)}"
        if len(note) > width:
            note = f"{len(hidden)} panels not shown"
        rows.append(Layout(Text(note[:width], style="italic grey62", no_wrap=True), size=1))
    used = sum(r.size or 0 for r in rows)
    root = Layout()
    root.split_column(*rows)
    return _Sized(root, used)


def stream_lines(view: View) -> int:
    """The lines the Streams panel's body needs: the column names, a line per stream the
    frame carries (the worst few), and one for "+N more"."""
    tracked = view.snap.streams_tracked
    shown = min(tracked, len(view.snap.stream_rows))
    return 1 + shown + (tracked > shown)


def several_streams(view: View) -> bool:
    """Whether the Streams panel is shown: more than one stream is tracked (and the frame
    carries their rows)."""
    return view.snap.streams_tracked > 1 and bool(view.snap.stream_rows)


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
