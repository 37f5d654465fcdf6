"""stats/merge.py: workers' statistics merged equal one receiver's, stream by stream."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wskrecv import payload
from wskrecv.stats.merge import Merger, Partial, capture, merge, merge_sources
from wskrecv.stats.modes import EventStatistics, IrpStatistics, merge_mode_statistics
from wskrecv.stats.recorder import Recorder
from wskrecv.stats.snapshot import Snapshot

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")

T0 = 1_700_000_000_000_000_000

# What one receiver and the merge of several must agree on exactly.
EXACT = ("received", "bytes", "truncated", "lost", "reordered", "duplicates", "corrupt",
         "unsequenced", "late", "restarts", "expected", "sequenced", "streams_tracked", "streams_seen",
         "latency", "app_latency", "sizes", "sources_seen", "sources_evicted")

Event = tuple[int, int, int, int]  # (sender index, sequence, transit ns, app delay ns)


def feed(rec: Recorder, events: list[Event], senders: int) -> None:
    for sender, seq, transit, app in events:
        remote = ("127.0.0.1", 40000 + sender)
        arrival = T0 + seq * 1000 + transit
        data = bytes(payload.build(sender, seq, arrival - transit, b"x" * (sender % 5 * 100)))
        rec.record(data, remote, arrival, False, arrival + app)


def partial_of(rec: Recorder, worker: int) -> Partial:
    return capture(rec, rec.snapshot(1.0, 0, {}, None, advance=False), worker)


def split_run(events: list[Event], senders: int, workers: int, seed: int) -> tuple[Snapshot, list[Partial]]:
    """One recorder over every event, and `workers` recorders each taking whole senders
    (as SO_REUSEPORT does with 4-tuples)."""
    whole = Recorder("irp", clock_ns=lambda: T0)
    feed(whole, events, senders)
    placement = random.Random(seed)
    owner = {s: placement.randrange(workers) for s in range(senders)}
    recs = [Recorder("irp", clock_ns=lambda: T0) for _ in range(workers)]
    for w, rec in enumerate(recs):
        feed(rec, [e for e in events if owner[e[0]] == w], senders)
    return whole.snapshot(1.0, 0, {}, None, advance=False), [partial_of(r, w) for w, r in enumerate(recs)]


events_strategy = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 200), st.integers(0, 5_000_000),
              st.integers(0, 2_000_000)),
    max_size=300,
)


@settings(max_examples=60, deadline=None)
@given(events_strategy, st.integers(1, 4), st.integers(0, 1000))
def test_merged_workers_count_what_one_receiver_counts(
    events: list[Event], workers: int, seed: int
) -> None:
    one, parts = split_run(events, 6, workers, seed)
    merged = merge(parts, 1.0)
    for name in EXACT:
        assert getattr(merged, name) == getattr(one, name), name
    assert sorted(merged.sources, key=str) == sorted(one.sources, key=str)
    if one.jitter_ns is None:
        assert merged.jitter_ns is None
    else:
        assert abs(merged.jitter_ns - one.jitter_ns) < 1e-6 * max(1.0, one.jitter_ns)
    assert merged.moved_sources == 0


def test_a_stream_seen_by_two_workers_is_reported_as_moved() -> None:
    events = [(0, seq, 1000, 10) for seq in range(10)]
    a, b = Recorder("irp", clock_ns=lambda: T0), Recorder("irp", clock_ns=lambda: T0)
    feed(a, events[:5], 1)
    feed(b, events[5:], 1)
    merged = merge([partial_of(a, 0), partial_of(b, 1)], 1.0)
    assert merged.moved_sources == 1
    assert merged.sources_seen == 1  # one sender, counted once
    assert merged.sources[0].datagrams == 10


def test_joined_source_table_keeps_the_bound_and_counts_evictions() -> None:
    recs = [Recorder("irp", clock_ns=lambda: T0, max_sources=4) for _ in range(2)]
    for w, rec in enumerate(recs):
        for i in range(4):
            for _ in range(i + 1):
                rec.record(b"x", (f"10.0.0.{w}", 1000 + i), T0, False, T0)
    top, seen, evicted, moved = merge_sources([partial_of(r, w) for w, r in enumerate(recs)])
    assert (seen, moved) == (8, 0)
    assert evicted == 4  # 8 rows over a bound of 4: the smallest half goes, as in one table
    assert sorted(r.datagrams for r in top) == [3, 3, 4, 4]


def _event(callbacks: int, mean: float, high: int, pended: int, failure=None) -> EventStatistics:  # type: ignore[no-untyped-def]
    return EventStatistics(callbacks=callbacks, mean_list_length=mean, pended=pended,
                           released=0, released_in_callback=0, rejected=0, pool_in_use=0,
                           pool_high_water=high, leaked=0, null_indications=0,
                           last_failure=failure)


def test_mode_stats_sum_but_the_high_water_mark_and_mean_list_length() -> None:
    merged = merge_mode_statistics([
        _event(10, 2.0, 7, 1),
        _event(30, 4.0, 5, 2, "STATUS_CANCELLED"),
    ])
    assert merged == _event(40, 3.5, 7, 3, "STATUS_CANCELLED")
    assert merged.as_json()["mean_list_length"] == 3.5  # type: ignore[union-attr]


def test_irp_statistics_sum() -> None:
    merged = merge_mode_statistics([IrpStatistics(4, 10, 1, 0), None, IrpStatistics(4, 5, 0, 2)])
    assert merged == IrpStatistics(8, 15, 1, 2)
    assert merge_mode_statistics([None, None]) is None


def test_interval_latency_is_exact_across_the_parents_intervals() -> None:
    """Interval percentiles over two workers equal those of one recorder over the same
    interval's values, though the workers report on their own schedules."""
    recs = [Recorder("irp", clock_ns=lambda: T0) for _ in range(2)]
    one = Recorder("irp", clock_ns=lambda: T0)
    merger = Merger()
    rng = random.Random(7)
    for interval in range(3):
        for step in range(2):  # each worker reports twice per parent interval
            for w, rec in enumerate(recs):
                evs = [(w, interval * 100 + step * 50 + k, rng.randrange(10**7), 5) for k in range(20)]
                feed(rec, evs, 2)
                feed(one, evs, 2)
                snap = rec.snapshot(1.0, 0, {}, None, advance=True)
                merger.update(capture(rec, snap, w))
        merged = merger.snapshot(float(interval + 1), advance=True)
        expected = one.snapshot(float(interval + 1), 0, {}, None, advance=True)
        assert merged is not None
        assert merged.interval_latency == expected.interval_latency
        assert merged.latency == expected.latency
        assert merged.interval_received == expected.interval_received == 80
        assert [w.received for w in merged.workers] == [40 * (interval + 1)] * 2


def test_a_dead_worker_leaves_the_totals_and_stays_listed() -> None:
    recs = [Recorder("irp", clock_ns=lambda: T0) for _ in range(2)]
    merger = Merger()
    for w, rec in enumerate(recs):
        feed(rec, [(w, s, 100, 1) for s in range(5 + w)], 2)
        merger.update(replace(partial_of(rec, w), pid=100 + w))
    assert merger.snapshot(1.0).received == 11
    merger.drop(1, "was killed by SIGKILL")
    snap = merger.snapshot(2.0)
    assert snap.received == 5
    assert snap.interval_received == 0
    assert [(w.worker, w.alive) for w in snap.workers] == [(0, True), (1, False)]
