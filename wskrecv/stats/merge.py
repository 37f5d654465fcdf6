"""Exact merging of several receive workers' statistics (`--workers N`).

Each worker counts into its own Recorder and hands out `Partial`s: a frozen Snapshot plus
the raw state that a Snapshot only summarises (latency histogram counts, the whole source
table, every live stream's jitter, its CPU time). `Merger` folds the latest Partial of
every worker into one Snapshot whose numbers are the ones a single receiver would have
counted:

- counters (datagrams, bytes, drops, violations by rule, IRP/indication counts) sum;
- latency histograms merge bucket by bucket, and the maximum is the largest maximum, so
  the merged percentiles are those of one histogram of every value;
- sequence analysis is per stream, and a stream stays on one worker (SO_REUSEPORT hashes
  the 4-tuple), so lost/reordered/duplicates/late/expected sum;
- jitter is the mean over every live stream of every worker;
- per-stream rows are joined (a stream that moved between workers is one row, its counts
  summed) and bounded like one table (stats/streams.merge_rows); retired sums add up;
- sizes: counts and bytes sum, the minimum and maximum are the extremes;
- sources: the tables are joined and bounded like one table (MAX_SOURCES, dropping the
  smallest half when full); `sources_evicted` is the workers' evictions plus the join's.

Where exactness breaks: when the REUSEPORT group changes during a run (a worker dies and
its socket closes, or another process of the same user binds the same port with
SO_REUSEPORT), the kernel hashes flows over a different set of sockets and a stream can
move to another worker. Its sequence analysis is then split: each worker sees part of its
sequences, so both count loss (the gap) where one receiver would have counted none. The
merge detects it as a source present in more than one worker's table and reports the
number as `moved_sources` (the tables are bounded, so a source already evicted by one
worker escapes detection). `host_udp` is host-wide: it is taken from one worker, not
summed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Optional

from wskrecv.stats.latency import Histogram, Percentiles
from wskrecv.stats.modes import merge_mode_statistics
from wskrecv.stats.recorder import Recorder
from wskrecv.stats.sizes import SIZE_BUCKETS, SizeStats
from wskrecv.stats.snapshot import Snapshot, WorkerRow, _frozen
from wskrecv.stats.sources import MAX_SOURCES, TOP, SourceRow
from wskrecv.stats.streams import Marks, StreamRow, collect, marks_of, merge_rows, since, worst

Counts = tuple[tuple[int, int], ...]  # (bucket, count) of the non-empty buckets


def _sparse(h: Histogram) -> Counts:
    return tuple((i, c) for i, c in enumerate(h.counts) if c)


@dataclass(frozen=True)
class Partial:
    """One worker's statistics at one instant: its Snapshot and the raw state behind it.
    Pickled from the worker process to the parent."""

    worker: int
    pid: int
    snap: Snapshot
    owd: Counts  # one-way latency, cumulative over the run
    app: Counts  # application latency, cumulative over the run
    sources: tuple[tuple[str, int, int, int], ...]  # (address, port, datagrams, bytes), all
    max_sources: int
    jitters: tuple[float, ...]  # each live stream's jitter estimate (ns)
    cpu_s: float  # the worker process's CPU time so far (user + system)
    owd_sum: int = 0  # the one-way latencies' exact sum (ns), cumulative over the run
    app_sum: int = 0  # ... and the application latencies'
    streams: tuple[StreamRow, ...] = ()  # every live stream's row
    max_streams: int = 0  # the worker's stream table bound


def capture(recorder: Recorder, snap: Snapshot, worker: int = 0) -> Partial:
    """The Partial of `recorder`, whose latest snapshot is `snap`, taken right after it.
    When another thread records (event --pend), what it recorded in between is in the
    raw state but not in `snap`: interval reports may differ by those few datagrams; the
    final Partial, taken once the application has stopped, is exact."""
    with recorder.lock:
        owd, app = recorder.run_histograms()
        rows = list(recorder.sources.rows.items())
        streams = list(recorder.streams.streams.values())
        jitters = tuple(t.jitter_ns for t in streams if t.jitter_ns is not None)
        stream_rows = collect(recorder.streams, None)
    sources = tuple((str(r[0]), int(r[1]), c[0], c[1]) for r, c in rows)
    times = os.times()
    return Partial(worker, os.getpid(), snap, _sparse(owd), _sparse(app), sources,
                   recorder.sources.max_sources, jitters, times.user + times.system,
                   owd.sum, app.sum, stream_rows, recorder.streams.max_streams)


def _histogram(parts: Sequence[Counts], top: int) -> Histogram:
    h = Histogram()
    counts = h.counts
    for part in parts:
        for i, c in part:
            counts[i] += c
    h.max = top
    return h


def _diff(now: Counts, before: Counts) -> Counts:
    """Counts added since `before` (both cumulative, of one worker)."""
    old = dict(before)
    return tuple((i, c - old.get(i, 0)) for i, c in now if c != old.get(i, 0))


def _max(p: Optional[Percentiles]) -> int:
    return p.max if p is not None else 0


def merge_sources(
    parts: Sequence[Partial],
) -> tuple[tuple[SourceRow, ...], int, int, int]:
    """The joined source table's top rows, seen and evicted counts, and the number of
    sources that more than one worker saw (a moved stream)."""
    table: dict[tuple[str, int], list[int]] = {}
    moved = 0
    limit = MAX_SOURCES
    for p in parts:
        limit = p.max_sources
        for address, port, datagrams, nbytes in p.sources:
            row = table.get((address, port))
            if row is None:
                table[(address, port)] = [datagrams, nbytes]
            else:
                moved += 1
                row[0] += datagrams
                row[1] += nbytes
    evicted = sum(p.snap.sources_evicted for p in parts)
    while len(table) > limit:  # as SourceTable._evict: the smallest half goes
        by_count = sorted(table.items(), key=lambda kv: kv[1][0])
        for key, _ in by_count[: max(1, len(by_count) // 2)]:
            del table[key]
            evicted += 1
    rows = sorted(table.items(), key=lambda kv: kv[1][0], reverse=True)[:TOP]
    top = tuple(SourceRow(a, p, c[0], c[1]) for (a, p), c in rows)
    seen = sum(p.snap.sources_seen for p in parts) - moved
    return top, seen, evicted, moved


def merge_sizes(sizes: Sequence[SizeStats]) -> SizeStats:
    counted = [z for z in sizes if z.count]
    histogram = tuple(sum(z.histogram[b] for z in sizes) for b in range(SIZE_BUCKETS))
    return SizeStats(
        sum(z.count for z in sizes),
        min((z.min for z in counted), default=0),
        max((z.max for z in counted), default=0),
        sum(z.total for z in sizes),
        histogram,
    )


_SUMMED = ("received", "bytes", "truncated", "kernel_drops", "violations", "cautions", "lost",
           "reordered", "duplicates", "corrupt", "unsequenced", "reply_requests", "late",
           "restarts", "expected", "sequenced", "streams_seen", "streams_evicted")


def merge(parts: Sequence[Partial], elapsed_s: float) -> Snapshot:
    """One Snapshot of the whole run from every worker's latest Partial (run totals;
    Merger adds the interval fields and the worker lines)."""
    if not parts:
        raise ValueError("nothing to merge")
    snaps = [p.snap for p in parts]
    first = snaps[0]
    sums = {name: sum(getattr(s, name) for s in snaps) for name in _SUMMED}
    rules: dict[str, int] = {}
    cautions: dict[str, int] = {}
    for s in snaps:
        for rule, n in s.violations_by_rule.items():
            rules[rule] = rules.get(rule, 0) + n
        for rule, n in s.cautions_by_rule.items():
            cautions[rule] = cautions.get(rule, 0) + n
    jitters = [j for p in parts for j in p.jitters]
    owd = _histogram([p.owd for p in parts], max(_max(s.latency) for s in snaps))
    app = _histogram([p.app for p in parts], max(_max(s.app_latency) for s in snaps))
    top, seen, evicted, moved = merge_sources(parts)
    stream_rows, gone, moved_streams = merge_rows(
        [p.streams for p in parts], max(p.max_streams for p in parts) or len(parts) * 1024)
    sums["streams_seen"] -= moved_streams
    sums["streams_evicted"] += gone.streams
    retired = gone
    for s in snaps:
        retired += s.streams_retired
    return Snapshot(
        mode=first.mode,
        elapsed_s=elapsed_s,
        violations_by_rule=_frozen(rules),
        cautions_by_rule=_frozen(cautions),
        mode_stats=merge_mode_statistics([s.mode_stats for s in snaps]),
        seq_format=first.seq_format,
        jitter_ns=sum(jitters) / len(jitters) if jitters else None,
        latency=owd.percentiles(),
        app_latency=app.percentiles(),
        host_udp=next((s.host_udp for s in snaps if s.host_udp is not None), None),
        sources=top,
        sources_seen=seen,
        sources_evicted=evicted,
        sizes=merge_sizes([s.sizes for s in snaps]),
        moved_sources=moved,
        tos=_sum_values([s.tos for s in snaps]),
        ttl=_sum_values([s.ttl for s in snaps]),
        streams_tracked=len(stream_rows),
        stream_rows=stream_rows,
        streams_retired=retired,
        **_at_exit(snaps),
        **sums,
    )


def _sum_values(parts: Sequence[Optional[tuple[tuple[int, int], ...]]]
                ) -> Optional[tuple[tuple[int, int], ...]]:
    """Counts per TOS or TTL value summed over workers (None when none counted them)."""
    if all(p is None for p in parts):
        return None
    total: dict[int, int] = {}
    for part in parts:
        for value, n in part or ():
            total[value] = total.get(value, 0) + n
    return tuple(sorted(total.items()))


def _at_exit(snaps: Sequence[Snapshot]) -> dict[str, Any]:
    """The end-of-run fields over all workers: unread, tail drops and inherited sockets'
    drops before the run summed (None when no worker counted them), the earliest first and
    the latest last arrival."""
    def total(name: str) -> Optional[int]:
        values = [getattr(s, name) for s in snaps if getattr(s, name) is not None]
        return sum(values) if values else None

    firsts = [s.first_ns for s in snaps if s.first_ns is not None]
    lasts = [s.last_ns for s in snaps if s.last_ns is not None]
    starts = [s.start_ns for s in snaps if s.start_ns is not None]
    return {
        "unread_at_exit": total("unread_at_exit"),
        "unread_complete": all(s.unread_complete for s in snaps),
        "drops_after_last_read": total("drops_after_last_read"),
        "kernel_drops_before_run": total("kernel_drops_before_run"),
        "start_ns": min(starts) if starts else None,
        "first_ns": min(firsts) if firsts else None,
        "last_ns": max(lasts) if lasts else None,
    }


class Merger:
    """The parent's view of a --workers run: the latest Partial of each worker, merged
    on demand, with interval fields over the parent's own intervals.

    Interval latency stays exact: the counts are the difference of the cumulative
    histograms since the last interval, and the maximum is the largest of the interval
    maxima the workers reported meanwhile (their intervals partition the time).
    """

    def __init__(self, pids: Optional[Mapping[int, int]] = None) -> None:
        self.pids = dict(pids or {})  # worker -> pid: listed before their first report
        self.latest: dict[int, Partial] = {}
        self.dead: dict[int, str] = {}  # worker -> why it is no longer counted
        self._mark: dict[int, Partial] = {}  # each worker's Partial at the last interval
        self._imax: dict[int, tuple[int, int]] = {}  # interval maxima since (owd, app)
        self._last_t = 0.0
        self._last_received = 0
        self._last_bytes = 0
        self._last_lost = 0
        self._last_expected = 0
        self._stream_marks: Marks = {}

    def update(self, p: Partial) -> None:
        """Take a worker's newest Partial."""
        if p.worker in self.dead:
            return
        self.latest[p.worker] = p
        o, a = self._imax.get(p.worker, (0, 0))
        self._imax[p.worker] = (max(o, _max(p.snap.interval_latency)),
                                max(a, _max(p.snap.interval_app_latency)))

    def drop(self, worker: int, why: str) -> None:
        """A worker died: its counts leave the totals (the summary shows what the others
        received) and its line stays, marked dead."""
        self.dead[worker] = why
        self.latest.pop(worker, None)
        mark = self._mark.get(worker)
        if mark is not None:  # keep the next interval's counts from going negative
            self._last_received -= mark.snap.received
            self._last_bytes -= mark.snap.bytes
            self._last_lost -= mark.snap.lost
            self._last_expected -= mark.snap.expected

    def _interval_latency(self, parts: Sequence[Partial]) -> tuple[Optional[Percentiles], ...]:
        out = []
        for field_name, which in (("owd", 0), ("app", 1)):
            diffs = []
            top = 0
            for p in parts:
                mark = self._mark.get(p.worker)
                now = getattr(p, field_name)
                diffs.append(_diff(now, getattr(mark, field_name)) if mark else now)
                top = max(top, self._imax.get(p.worker, (0, 0))[which])
            out.append(_histogram(diffs, top).percentiles())
        return tuple(out)

    def rows(self) -> tuple[WorkerRow, ...]:
        """Every worker's line as now, rates left at 0 (before the first interval)."""
        return self._rows([self.latest[w] for w in sorted(self.latest)], 0.0)

    def _rows(self, parts: Sequence[Partial], interval_s: float) -> tuple[WorkerRow, ...]:
        rows = []
        by_worker = {p.worker: p for p in parts}
        for w in sorted(set(by_worker) | set(self.dead) | set(self._mark) | set(self.pids)):
            p = by_worker.get(w)
            mark = self._mark.get(w)
            if p is None:
                pid = mark.pid if mark else self.pids.get(w, 0)
                rows.append(WorkerRow(w, pid, mark.snap.received if mark else 0, 0.0,
                                      mark.snap.kernel_drops if mark else 0, 0.0,
                                      alive=w not in self.dead))
                continue
            received0 = mark.snap.received if mark else 0
            cpu0 = mark.cpu_s if mark else 0.0
            rate = (p.snap.received - received0) / interval_s if interval_s > 0 else 0.0
            cpu = 100.0 * (p.cpu_s - cpu0) / interval_s if interval_s > 0 else 0.0
            rows.append(WorkerRow(w, p.pid, p.snap.received, rate, p.snap.kernel_drops,
                                  cpu, alive=w not in self.dead))
        return tuple(rows)

    def snapshot(self, elapsed_s: float, advance: bool = True, streams_limit: Optional[int] = None
                 ) -> Optional[Snapshot]:
        """The merged snapshot (None before any worker reported); with `advance`, a new
        interval starts at `elapsed_s`. `streams_limit` bounds its per-stream rows as
        Recorder.snapshot's does (None: every one, 0: none)."""
        parts = [self.latest[w] for w in sorted(self.latest)]
        if not parts:
            return None
        total = merge(parts, elapsed_s)
        interval_s = elapsed_s - self._last_t
        lat, app = self._interval_latency(parts)
        rows = total.stream_rows
        if streams_limit is not None and len(rows) > streams_limit:
            keep = {r.key for r in worst(rows, streams_limit)}
            rows = tuple(r for r in rows if r.key in keep)
        rows = tuple(since(r, self._stream_marks.get(r.key)) for r in rows)
        snap = replace(
            total,
            interval_s=interval_s,
            interval_received=total.received - self._last_received,
            interval_bytes=total.bytes - self._last_bytes,
            interval_lost=total.lost - self._last_lost,
            interval_expected=total.expected - self._last_expected,
            interval_latency=lat,
            interval_app_latency=app,
            workers=self._rows(parts, interval_s),
            stream_rows=rows,
            time_ns=time.time_ns(),
        )
        if advance:
            self._last_t = elapsed_s
            self._last_received = total.received
            self._last_bytes = total.bytes
            self._last_lost = total.lost
            self._last_expected = total.expected
            for p in parts:
                self._mark[p.worker] = p
            self._imax = {}
            if streams_limit != 0:
                self._stream_marks = marks_of(total.stream_rows)
        return snap


__all__ = ["Merger", "Partial", "capture", "merge", "merge_sources"]
