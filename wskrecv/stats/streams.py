"""Per-stream figures: one frozen row per sequenced stream, for output and merging.

A stream is one sender's sequence space: its source address and port, plus the stream id
its header carries (0 for formats without one: sockperf, iperf3). The stream table
(stats/sequence.py) keeps a tracker per stream; this module reads them into `StreamRow`s
when a snapshot is taken, never on the receive path. The table is bounded
(`--max-streams`): the streams it retires (the least active half, when it is full; or a
stream an iperf3 test ends) leave their counts in `RetiredStreams`, one row of sums.

Rows are cheap to read but a run may have thousands of streams and the dashboard draws
several frames a second, so a snapshot carries either every row (the summary, and
interval reports with --per-stream) or only the `limit` worst by loss (`collect`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, astuple, dataclass, replace
from operator import add
from typing import Any, Optional

from wskrecv.addresses import plain_host
from wskrecv.stats.latency import Percentiles
from wskrecv.stats.sequence import SequenceTotals, StreamTable

TOP_STREAMS = 10  # rows a display frame carries: the worst by loss

StreamKey = tuple[str, int, int]  # (address, port, stream id), the address made plain


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


def _ms(ns: Optional[float]) -> Optional[float]:
    return round(ns / 1e6, 6) if ns is not None else None


@dataclass(frozen=True)
class StreamRow:
    """One stream's figures so far (see stats/sequence.py for the definitions), and its
    share of the current interval (`interval_*`: datagrams, bytes, sequences expected and
    lost, datagrams reordered since the previous interval report)."""

    address: str
    port: int
    stream: int
    received: int  # datagrams of this stream, duplicates and late ones included
    lost: int
    expected: int
    reordered: int
    duplicates: int
    late: int
    restarts: int
    jitter_ns: Optional[float]
    latency: Optional[Percentiles] = None  # one-way, over the run (wall-clock send times)
    bytes: int = 0
    interval_received: int = 0
    interval_lost: int = 0
    interval_expected: int = 0
    interval_reordered: int = 0
    interval_bytes: int = 0

    @property
    def key(self) -> StreamKey:
        return (self.address, self.port, self.stream)

    @property
    def loss_pct(self) -> float:
        return _pct(self.lost, self.expected)

    @property
    def interval_loss_pct(self) -> float:
        return _pct(self.interval_lost, self.interval_expected)

    @property
    def badness(self) -> tuple[float, int, int]:
        """What `worst` ranks by: the loss percentage, then lost sequences, then the
        datagrams that arrived out of place (reordered, duplicate, late)."""
        return (self.loss_pct, self.lost, self.reordered + self.duplicates + self.late)

    def as_dict(self, interval: bool = False) -> dict[str, Any]:
        """The JSON object of one stream; `interval` adds its share of the interval."""
        out: dict[str, Any] = {
            "address": self.address, "port": self.port, "stream": self.stream,
            "received": self.received, "bytes": self.bytes, "lost": self.lost,
            "expected": self.expected,
            "loss_pct": round(self.loss_pct, 6), "reordered": self.reordered,
            "duplicates": self.duplicates, "late": self.late, "restarts": self.restarts,
            "jitter_ms": _ms(self.jitter_ns),
            "latency_ms": self.latency.as_ms() if self.latency is not None else None,
        }
        if interval:
            out.update(interval_datagrams=self.interval_received,
                       interval_bytes=self.interval_bytes,
                       interval_reordered=self.interval_reordered,
                       interval_lost=self.interval_lost,
                       interval_expected=self.interval_expected,
                       interval_loss_pct=round(self.interval_loss_pct, 6))
        return out


@dataclass(frozen=True)
class RetiredStreams:
    """The streams the table no longer tracks, summed: `streams` of them, retired to
    bound memory or ended by the iperf3 server (their counts stay in the totals)."""

    streams: int = 0
    received: int = 0
    lost: int = 0
    expected: int = 0
    reordered: int = 0
    duplicates: int = 0
    late: int = 0
    restarts: int = 0

    @property
    def loss_pct(self) -> float:
        return _pct(self.lost, self.expected)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "loss_pct": round(self.loss_pct, 6)}

    def __add__(self, other: RetiredStreams) -> RetiredStreams:
        return RetiredStreams(*map(add, astuple(self), astuple(other)))


def retired(totals: SequenceTotals) -> RetiredStreams:
    """The table's retired totals as a frozen row."""
    return RetiredStreams(totals.streams, totals.sequenced, totals.lost, totals.expected,
                          totals.reordered, totals.duplicates, totals.late, totals.restarts)


def key_of(key: tuple) -> StreamKey:
    """A table key ((address, port[, flow, scope]), stream id) as a row's key."""
    remote, stream = key
    return (plain_host(str(remote[0])), int(remote[1]), int(stream))


def _row(key: tuple, t: Any) -> StreamRow:
    address, port, stream = key_of(key)
    latency = t.latency
    return StreamRow(address, port, stream, t.datagrams, t.lost, t.expected, t.reordered,
                     t.duplicates, t.late, t.restarts, t.jitter_ns,
                     latency.percentiles() if latency is not None else None, t.bytes)


# key -> (received, lost, expected, reordered, bytes) at the previous interval report
Marks = dict[StreamKey, tuple[int, int, int, int, int]]


def collect(table: StreamTable, limit: Optional[int], marks: Optional[Marks] = None
            ) -> tuple[StreamRow, ...]:
    """The rows of the table's live streams, in the order they started: every one
    (`limit` None), or only the `limit` worst by loss. `marks` are the figures at the
    previous interval report (`mark`): each row's interval share is counted from them."""
    items = list(table.streams.items())  # one C-level copy: safe if another thread records
    if limit is not None and len(items) > limit:
        ranked = heapq.nlargest(limit, range(len(items)),
                                key=lambda i: _badness(items[i][1]))
        items = [items[i] for i in sorted(ranked)]
    rows = [_row(k, t) for k, t in items]
    if marks is not None:
        rows = [since(r, marks.get(r.key)) for r in rows]
    return tuple(rows)


def _badness(t: Any) -> tuple[float, int, int]:
    expected, lost = t.expected, t.lost
    return (_pct(lost, expected), lost, t.reordered + t.duplicates + t.late)


def since(row: StreamRow, mark: Optional[tuple[int, int, int, int, int]]) -> StreamRow:
    """`row` with its interval share counted from `mark` (its figures at the previous
    report). No mark, or fewer datagrams than it says (the stream was retired and started
    again): the whole row is this interval's."""
    if mark is None or row.received < mark[0]:
        mark = (0, 0, 0, 0, 0)
    return replace(row, interval_received=row.received - mark[0],
                   interval_lost=row.lost - mark[1], interval_expected=row.expected - mark[2],
                   interval_reordered=row.reordered - mark[3], interval_bytes=row.bytes - mark[4])


def mark(table: StreamTable) -> Marks:
    """Every live stream's figures now: the next interval's start."""
    return {key_of(k): (t.datagrams, t.lost, t.expected, t.reordered, t.bytes)
            for k, t in list(table.streams.items())}


def marks_of(rows: Iterable[StreamRow]) -> Marks:
    """The same marks, from rows (a --workers run's merged ones)."""
    return {r.key: (r.received, r.lost, r.expected, r.reordered, r.bytes) for r in rows}


def worst(rows: Sequence[StreamRow], n: Optional[int] = None) -> list[StreamRow]:
    """The rows worst first by loss (`StreamRow.badness`); the first `n` (None: all)."""
    ranked = sorted(rows, key=lambda r: r.badness, reverse=True)
    return ranked if n is None else ranked[:n]


def merge_rows(parts: Sequence[Sequence[StreamRow]], max_streams: int
               ) -> tuple[tuple[StreamRow, ...], RetiredStreams, int]:
    """Several receivers' rows (a --workers run) as one table's: a stream seen by more
    than one (it moved between workers) is one row, its counts summed, its jitter the
    mean and its latency the larger part's (not exact: its analysis was split). Bounded
    like one table: beyond `max_streams`, the rows with the fewest datagrams are retired
    into the returned sums.
    Returns the rows, those sums, and how many streams were merged from more than one."""
    table: dict[StreamKey, StreamRow] = {}
    jitters: dict[StreamKey, list[float]] = {}
    moved = 0
    for rows in parts:
        for r in rows:
            old = table.get(r.key)
            if r.jitter_ns is not None:
                jitters.setdefault(r.key, []).append(r.jitter_ns)
            if old is None:
                table[r.key] = r
                continue
            moved += 1
            table[r.key] = replace(
                old, latency=old.latency if old.received >= r.received else r.latency,
                received=old.received + r.received, bytes=old.bytes + r.bytes,
                lost=old.lost + r.lost,
                expected=old.expected + r.expected, reordered=old.reordered + r.reordered,
                duplicates=old.duplicates + r.duplicates, late=old.late + r.late,
                restarts=old.restarts + r.restarts,
                interval_received=old.interval_received + r.interval_received,
                interval_lost=old.interval_lost + r.interval_lost,
                interval_expected=old.interval_expected + r.interval_expected,
                interval_reordered=old.interval_reordered + r.interval_reordered,
                interval_bytes=old.interval_bytes + r.interval_bytes)
    for key, values in jitters.items():
        if len(values) > 1:
            table[key] = replace(table[key], jitter_ns=sum(values) / len(values))
    out = RetiredStreams()
    rows = list(table.values())
    if len(rows) > max_streams:
        keep = set(heapq.nlargest(max_streams, range(len(rows)), key=lambda i: rows[i].received))
        for i, r in enumerate(rows):
            if i not in keep:
                out += RetiredStreams(1, r.received, r.lost, r.expected, r.reordered,
                                      r.duplicates, r.late, r.restarts)
        rows = [r for i, r in enumerate(rows) if i in keep]
    return tuple(rows), out, moved


def as_json(rows: Sequence[StreamRow], gone: Optional[RetiredStreams], interval: bool = False
            ) -> Mapping[str, Any]:
    """The `streams` array and the `streams_retired` object of a JSON object."""
    return {"streams": [r.as_dict(interval) for r in rows],
            "streams_retired": gone.as_dict() if gone is not None and gone.streams else None}


__all__ = ["TOP_STREAMS", "RetiredStreams", "StreamRow", "as_json", "collect", "key_of", "mark",
           "marks_of", "merge_rows", "retired", "since", "worst"]
