"""The human output's lines per stream and per value: the summary's table of streams and
the --per-stream lines after each interval line (stats/streams.py's rows), and the
--tos-ttl lines (the values counted, named)."""

from __future__ import annotations

from typing import Optional

from wskrecv.output.format import address, duration, ms, pct, plural
from wskrecv.stats.latency import Percentiles
from wskrecv.stats.snapshot import Snapshot
from wskrecv.stats.streams import StreamRow, worst
from wskrecv.tos import describe

SUMMARY_STREAMS = 10  # streams in the summary's table without --per-stream


def stream_name(row: StreamRow) -> str:
    """A stream as the outputs name it: its source and the header's stream id."""
    return f"{address(row.address, row.port)} #{row.stream}"


def stream_lines(snap: Snapshot) -> list[str]:
    """--per-stream: after an interval line, a line per stream (this interval's loss as
    iperf3 prints it, then its totals), in the order the streams started."""
    lines = []
    for r in snap.stream_rows:
        line = (f"  {stream_name(r)}  {r.interval_received} dg  lost {r.interval_lost}/"
                f"{r.interval_expected} ({pct(r.interval_loss_pct)}) total {r.lost} "
                f"({pct(r.loss_pct)})  reord {r.reordered} dup {r.duplicates}")
        if r.late:
            line += f" late {r.late}"
        if r.jitter_ns is not None:
            line += f"  jitter {duration(r.jitter_ns)}"
        if r.latency is not None:
            line += f"  owd p50/p99 {ms(r.latency.p50)}/{ms(r.latency.p99)} ms"
        lines.append(line)
    return lines


def _columns(head: list[str], rows: list[list[str]], width: Optional[int] = None,
             keep: int = 4) -> list[str]:
    """A plain table: the first column left-aligned, the others right-aligned. Wider than
    `width` (a terminal's), it leaves out columns from the right, never the first `keep`,
    and says which in a last line (a table is not wrapped like words)."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    n = len(head)
    while width is not None and n > keep and 2 + sum(widths[:n]) + 2 * (n - 1) > width:
        n -= 1
    lines = ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                              for i, (c, w) in enumerate(zip(r[:n], widths[:n]))).rstrip()
             for r in [head, *rows]]
    if n < len(head):
        lines.append(f"({', '.join(head[n:])}: left out at this width; --json has them)")
    return lines


def _p50_p99(p: Optional[Percentiles]) -> str:
    return f"{ms(p.p50)}/{ms(p.p99)}" if p is not None else "-"


def stream_table(snap: Snapshot, every: bool = False, width: Optional[int] = None) -> list[str]:
    """The summary's streams, worst first by loss: the first SUMMARY_STREAMS (`every`:
    all of them), and the retired streams' sums. Nothing for a single stream (the loss
    line says it all) unless `every`."""
    rows, gone = snap.stream_rows, snap.streams_retired
    if not rows and not gone.streams or len(rows) + gone.streams < 2 and not every:
        return []
    shown = worst(rows, None if every else SUMMARY_STREAMS)
    if len(shown) < len(rows):
        title = f"worst {len(shown)} of {len(rows)} by loss (all with --per-stream)"
    else:
        title = f"{plural(len(rows), 'stream')}, worst first by loss"
    owd = any(r.latency is not None for r in shown)  # a column for one-way latency
    table = [[stream_name(r), str(r.received), str(r.lost), pct(r.loss_pct), str(r.reordered),
              str(r.duplicates), str(r.late), duration(r.jitter_ns)]
             + ([_p50_p99(r.latency)] if owd else []) for r in shown]
    if gone.streams:
        table.append([f"retired: {plural(gone.streams, 'stream')}", str(gone.received),
                      str(gone.lost), pct(gone.loss_pct), str(gone.reordered),
                      str(gone.duplicates), str(gone.late), "-"] + (["-"] if owd else []))
    head = ["source #stream", "received", "lost", "loss", "reord", "dup", "late", "jitter"]
    head += ["owd p50/p99 ms"] if owd else []
    return [f"streams      {title}:", *_columns(head, table, width)]


FIELD_VALUES_SHOWN = 8  # TOS or TTL values a summary line lists, the most frequent


def field_lines(snap: Snapshot) -> list[str]:
    """--tos-ttl: the received TOS bytes (DSCP and ECN) and TTLs, each value with its
    datagrams, most frequent first."""
    lines = []
    for label, counted, name, what in (("tos", snap.tos, describe, "TOS / IPv6 traffic class"),
                                       ("ttl", snap.ttl, str, "TTL / IPv6 hop limit")):
        if counted is None:
            continue
        ranked = sorted(counted, key=lambda vn: -vn[1])
        listed = ", ".join(f"{name(v)}: {n}" for v, n in ranked[:FIELD_VALUES_SHOWN])
        more = len(ranked) - FIELD_VALUES_SHOWN
        text = (listed or "none seen") + (f" (+{more} more values)" if more > 0 else "")
        lines.append(f"{label:<12} {text} ({what})")
    return lines



__all__ = ["SUMMARY_STREAMS", "field_lines", "stream_lines", "stream_name", "stream_table"]
