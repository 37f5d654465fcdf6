"""The dashboard's receive-style panel: the style's own counters (IRP, event, a client's),
the event style's buffer pool as a bar with its high-water mark, API violations, and with
--workers a line per worker. Flowed to the width it is given."""

from __future__ import annotations

from typing import Any, Optional

from rich.text import Text

from wskrecv.output.format import si
from wskrecv.output.panels import BAD, GOOD, LABEL, WARN, View
from wskrecv.stats.modes import ClientStatistics, EventStatistics, IrpStatistics, ModeStatistics


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
        items = []
        if "irp" in stats.styles:
            items += [("outstanding", stats.outstanding, False),
                      ("completed", stats.completions, False)]
        if "event" in stats.styles:
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
