"""Per-stream figures (stats/streams.py): each stream's rows equal what its sender planned,
the table's bound sums the rest, intervals get their share, workers merge, JSON and the
human table show them (no network)."""

from __future__ import annotations

import itertools
import pickle
import random

import pytest

from wskrecv import payload
from wskrecv.errors import ExitStatus
from wskrecv.output.human import summary_lines
from wskrecv.output.streamtext import stream_lines, stream_table
from wskrecv.stats import Recorder
from wskrecv.stats.merge import Merger, capture
from wskrecv.stats.streams import StreamRow, merge_rows, worst

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")

T0 = 1_700_000_000_000_000_000


def plan(rng: random.Random, n: int) -> tuple[list[int], dict[str, int]]:
    """A stream's sequences 0..n-1 with planned losses, swaps and duplicates, and the
    figures they must give."""
    seqs = list(range(n))
    lost = set(rng.sample(range(1, n - 40), 3))
    seqs = [s for s in seqs if s not in lost]
    swaps = 0
    for i in range(5, len(seqs) - 40, 37):  # adjacent swaps, apart from the losses
        if seqs[i] + 1 == seqs[i + 1]:
            seqs[i], seqs[i + 1] = seqs[i + 1], seqs[i]
            swaps += 1
    dups = [seqs[10], seqs[20]]
    seqs += dups
    return seqs, {"lost": len(lost), "reordered": swaps, "duplicates": len(dups),
                  "received": n - len(lost) + len(dups), "expected": n}


def datagrams(stream: int, seqs: list[int]) -> list[bytes]:
    return [bytes(payload.build(stream, s, T0 + i * 1000, b"x" * 20)) for i, s in enumerate(seqs)]


def feed(rec: Recorder, items: list[tuple[bytes, tuple]]) -> None:
    for i, (d, remote) in enumerate(items):
        rec.record(d, remote, T0 + i * 1000 + 500, False, T0 + i * 1000 + 900)


def test_each_stream_gets_the_figures_its_sender_planned() -> None:
    rng = random.Random(3)
    rec = Recorder("event")
    expected = {}
    planned = []
    for k, (remote, stream) in enumerate([(("127.0.0.1", 4000), 0), (("127.0.0.1", 4000), 1),
                                           (("127.0.0.2", 4001), 7), (("::1", 4002, 0, 0), 0)]):
        seqs, figures = plan(rng, 300 + 50 * k)
        expected[(remote[0], remote[1], stream)] = figures
        planned.append([(d, remote) for d in datagrams(stream, seqs)])
    # The streams interleave, one datagram of each in turn; each keeps its own order.
    ordered = [item for turn in itertools.zip_longest(*planned) for item in turn if item]
    feed(rec, ordered)
    snap = rec.snapshot(1.0, 0, {}, None, streams_limit=None)
    got = {r.key: {"lost": r.lost, "reordered": r.reordered, "duplicates": r.duplicates,
                   "received": r.received, "expected": r.expected} for r in snap.stream_rows}
    assert got == expected
    assert snap.streams_tracked == len(snap.stream_rows) == 4
    assert sum(r.lost for r in snap.stream_rows) == snap.lost
    assert all(r.jitter_ns is not None for r in snap.stream_rows)


def test_the_table_bound_sums_the_rest_as_retired() -> None:
    rec = Recorder("event", max_streams=8)
    items = []
    for k in range(40):
        remote = (f"127.0.0.{k + 1}", 5000)
        items += [(d, remote) for d in datagrams(0, [0, 1, 3] if k % 2 else [0, 1, 2, 3])]
    feed(rec, items)
    snap = rec.snapshot(1.0, 0, {}, None, streams_limit=None)
    gone = snap.streams_retired
    assert len(snap.stream_rows) == snap.streams_tracked <= 8
    assert gone.streams == snap.streams_evicted > 0
    assert sum(r.lost for r in snap.stream_rows) + gone.lost == snap.lost == 20
    assert sum(r.received for r in snap.stream_rows) + gone.received == snap.sequenced
    s = snap.summary_dict()
    assert s["streams_retired"]["streams"] == gone.streams and len(s["streams"]) == s["streams_tracked"]


def test_a_limited_snapshot_carries_the_worst_streams_in_start_order() -> None:
    rec = Recorder("event")
    items = []
    for k in range(12):
        seqs = [s for s in range(100) if s % 50 >= k]  # stream k loses 2k of 100-ish
        items += [(d, (f"127.0.0.{k + 1}", 6000)) for d in datagrams(0, [0] + seqs)]
    feed(rec, items)
    snap = rec.snapshot(1.0, 0, {}, None, streams_limit=3)
    assert [r.address for r in snap.stream_rows] == ["127.0.0.10", "127.0.0.11", "127.0.0.12"]
    assert [r.address for r in worst(snap.stream_rows)] == ["127.0.0.12", "127.0.0.11", "127.0.0.10"]
    assert rec.snapshot(1.0, 0, {}, None).stream_rows == ()  # none unless asked


def test_intervals_carry_each_streams_share() -> None:
    rec = Recorder("event")
    a, b = ("127.0.0.1", 1), ("127.0.0.2", 2)
    feed(rec, [(d, a) for d in datagrams(0, [0, 1, 3])] + [(d, b) for d in datagrams(0, [0])])
    first = rec.snapshot(1.0, 0, {}, None, streams_limit=None)
    assert [(r.interval_received, r.interval_lost, r.interval_expected) for r in first.stream_rows] == [
        (3, 1, 4), (1, 0, 1)]
    feed(rec, [(d, a) for d in datagrams(0, [4, 6, 7])])
    second = rec.snapshot(2.0, 0, {}, None, streams_limit=None)
    assert [(r.interval_received, r.interval_lost, r.interval_expected) for r in second.stream_rows] == [
        (3, 1, 4), (0, 0, 0)]
    assert [(r.bytes, r.interval_bytes) for r in second.stream_rows] == [(6 * 56, 3 * 56), (56, 0)]
    obj = second.interval_dict(per_stream=True)
    assert obj["streams"][0]["interval_lost"] == 1 and obj["streams"][0]["lost"] == 2
    assert "streams" not in second.interval_dict() and obj["streams_tracked"] == 2


def test_workers_merge_into_the_rows_one_receiver_counts() -> None:
    rng = random.Random(5)
    remotes = [(f"127.0.0.{k}", 7000 + k) for k in range(1, 7)]
    items = []
    for k, remote in enumerate(remotes):
        seqs, _ = plan(rng, 200 + k * 10)
        items += [(d, remote) for d in datagrams(k % 2, seqs)]
    one = Recorder("event")
    feed(one, items)
    workers = [Recorder("event"), Recorder("event")]
    for i, (d, remote) in enumerate(items):
        w = workers[remotes.index(remote) % 2]  # a stream stays on one worker
        w.record(d, remote, T0 + i * 1000 + 500, False, T0 + i * 1000 + 900)
    merger = Merger()
    for i, w in enumerate(workers):
        merger.update(capture(w, w.snapshot(1.0, 0, {}, None), i))
    merged = merger.snapshot(1.0, advance=False)
    alone = one.snapshot(1.0, 0, {}, None, streams_limit=None)
    assert merged is not None
    assert sorted(merged.stream_rows, key=lambda r: r.key) == sorted(alone.stream_rows, key=lambda r: r.key)
    assert merged.streams_tracked == alone.streams_tracked == 6


def test_a_stream_seen_by_two_workers_is_one_row() -> None:
    row = StreamRow("127.0.0.1", 1, 0, 10, 2, 12, 1, 0, 0, 0, 100.0)
    other = StreamRow("127.0.0.1", 1, 0, 5, 1, 6, 0, 1, 0, 0, 300.0)
    rows, gone, moved = merge_rows([[row], [other]], 16)
    assert moved == 1 and gone.streams == 0
    assert (rows[0].received, rows[0].lost, rows[0].expected, rows[0].jitter_ns) == (15, 3, 18, 200.0)
    many = [StreamRow(f"10.0.0.{i}", 1, 0, i, 0, i, 0, 0, 0, 0, None) for i in range(1, 11)]
    rows, gone, _ = merge_rows([many[:5], many[5:]], 4)
    assert [r.received for r in rows] == [7, 8, 9, 10] and gone.streams == 6 and gone.received == 21


def test_the_human_table_ranks_by_loss_and_lists_all_with_per_stream() -> None:
    rec = Recorder("event")
    items = []
    for k in range(14):
        seqs = [s for s in range(60) if s % 30 >= k % 5]
        items += [(d, (f"127.0.0.{k + 1}", 8000)) for d in datagrams(0, [0] + seqs)]
    feed(rec, items)
    snap = rec.snapshot(1.0, 0, {}, None, streams_limit=None)
    table = stream_table(snap)
    assert table[0].startswith("streams      worst 10 of 14 by loss")
    assert "received" in table[1] and len(table) == 2 + 10
    assert "127.0.0.5:8000 #0" in table[2]  # a stream that lost 8 of 60
    assert len(stream_table(snap, every=True)) == 2 + 14
    lines = summary_lines(snap, ExitStatus.OK, "count reached")
    assert lines.index(table[0]) > 0
    assert len(stream_lines(snap)) == 14 and "lost" in stream_lines(snap)[0]


def test_one_stream_needs_no_table() -> None:
    rec = Recorder("event")
    feed(rec, [(d, ("127.0.0.1", 1)) for d in datagrams(0, [0, 2])])
    snap = rec.snapshot(1.0, 0, {}, None, streams_limit=None)
    assert stream_table(snap) == [] and len(stream_table(snap, every=True)) == 3


def test_snapshots_with_rows_pickle() -> None:
    rec = Recorder("event")
    feed(rec, [(d, ("127.0.0.1", 1)) for d in datagrams(0, [0, 2])])
    snap = rec.snapshot(1.0, 0, {}, None, streams_limit=None)
    assert pickle.loads(pickle.dumps(snap)) == snap
    row = snap.summary_dict()["streams"][0]
    assert set(row.pop("latency_ms")) == {"p50", "p90", "p99", "max"}
    assert row == pytest.approx({
        "address": "127.0.0.1", "port": 1, "stream": 0, "received": 2, "bytes": 2 * 56, "lost": 1,
        "expected": 3, "loss_pct": 100 / 3, "reordered": 0, "duplicates": 0, "late": 0,
        "restarts": 0, "jitter_ms": 0.0}, abs=1e-5)


def test_each_stream_has_its_own_one_way_latency() -> None:
    rec = Recorder("event")
    delays = {("127.0.0.1", 1): 100_000, ("127.0.0.2", 2): 5_000_000}  # 0.1 ms and 5 ms
    for i in range(200):
        for remote, delay in delays.items():
            send = T0 + i * 10_000
            d = payload.build(0, i, send, b"x")
            rec.record(d, remote, send + delay + (i % 7) * 1000, False, send + delay + 10**7)
    snap = rec.snapshot(1.0, 0, {}, None, streams_limit=None)
    for row in snap.stream_rows:
        delay = delays[(row.address, row.port)]
        assert row.latency is not None and row.latency.count == 200
        assert row.latency.p50 == pytest.approx(delay + 3000, rel=0.03)
        assert row.latency.max == delay + 6000  # the maximum is exact
    # The run's own latency spans both streams; iperf3's monotonic stamps give none.
    assert snap.latency is not None and snap.latency.count == 400
    rec3 = Recorder("event", seq_format="iperf3")
    rec3.record(payload.IPERF3.pack(1, 0, 1) + bytes(20), ("127.0.0.1", 1), T0, False, T0)
    assert rec3.snapshot(1.0, 0, {}, None, streams_limit=None).stream_rows[0].latency is None
