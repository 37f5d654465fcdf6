"""Hostile payloads (no network): whatever the bytes, the parsers parse or decline, the
sequence tracker classifies, the recorder counts every datagram exactly once, and the
per-source and per-stream tables stay bounded."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wskrecv import payload
from wskrecv.payload import FORMATS, PARSERS
from wskrecv.stats import Recorder
from wskrecv.stats.sequence import StreamTable, StreamTracker, Wrap32Tracker

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")

U64 = (1 << 64) - 1
EXTREMES = [0, 1, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 63), U64 - 1, U64]
seqs = st.one_of(st.sampled_from(EXTREMES), st.integers(0, U64), st.integers(0, 64))


def wskrecv_header(stream: int, seq: int, body: bytes, lie: int) -> bytes:
    """A wskrecv datagram whose body_len is off by `lie` (0: honest)."""
    d = payload.build(stream, seq, 0, body)
    struct.pack_into("!I", d, 28, (len(body) + lie) & 0xFFFFFFFF)
    return bytes(d)


# Every kind of payload a hostile network sends: random bytes (including empty), honest
# and lying wskrecv headers, sockperf headers with right and wrong lengths, iperf3 headers
# with out-of-range microseconds, and wskrecv bodies changed after their CRC.
payloads = st.one_of(
    st.binary(max_size=80),
    st.builds(wskrecv_header, st.integers(0, 3), seqs, st.binary(max_size=24),
              st.sampled_from([0, 0, 0, 1, -1, 1 << 31])),
    st.builds(lambda seq, n, lie: struct.pack("!QHI", seq, 0, (14 + n + lie) & 0xFFFFFFFF)
              + b"\0" * n, seqs, st.integers(0, 30), st.sampled_from([0, 0, 1, -14])),
    st.builds(lambda sec, usec, count, tail: struct.pack("!IIQ", sec, usec, count)[:12 + tail],
              st.integers(0, 2**32 - 1), st.sampled_from([0, 999_999, 1_000_000, 2**32 - 1]),
              seqs, st.sampled_from([0, 4])),
    st.builds(lambda d: d[:-1] + bytes([d[-1] ^ 1]),
              st.builds(wskrecv_header, st.integers(0, 3), seqs, st.binary(min_size=1,
                        max_size=8), st.just(0))),
)
remotes = st.sampled_from([("127.0.0.1", p) for p in range(1, 9)])


@given(st.binary(max_size=200))
def test_parsers_parse_or_decline_any_bytes(data: bytes) -> None:
    for name, parse in PARSERS.items():
        for view in (data, memoryview(data), bytearray(data)):
            h = parse(view)
            assert h is None or (isinstance(h.sequence, int) and 0 <= h.sequence <= U64), name


@given(payloads)
def test_parsers_parse_or_decline_crafted_headers(data: bytes) -> None:
    for parse in PARSERS.values():
        h = parse(data)
        if h is not None:
            assert 0 <= h.stream < 1 << 32 and 0 <= h.sequence <= U64


@given(st.lists(st.tuples(payloads, remotes), max_size=60),
       st.sampled_from(FORMATS), st.sampled_from([1, 2, 1024]), st.sampled_from([1, 3, 1024]))
@settings(max_examples=200, deadline=None)
def test_every_datagram_is_counted_exactly_once(
    datagrams: list[tuple[bytes, tuple]], seq_format: str, max_streams: int, max_sources: int
) -> None:
    """received = sequenced + unsequenced, the sources' and streams' sums agree, and both
    tables stay within their bounds, whatever the mix and however small the tables."""
    rec = Recorder("irp", seq_format=seq_format, max_streams=max_streams,
                   max_sources=max_sources, window=64)
    for i, (data, remote) in enumerate(datagrams):
        rec.record(memoryview(data), remote, 1_000 + i, False, 2_000 + i)
    snap = rec.snapshot(1.0, 0, {}, None)
    assert snap.received == len(datagrams)
    assert snap.bytes == sum(len(d) for d, _ in datagrams)
    assert snap.sequenced + snap.unsequenced == snap.received
    assert snap.corrupt <= snap.sequenced
    assert 0 <= snap.lost <= snap.expected
    assert snap.reordered + snap.duplicates + snap.late <= snap.sequenced
    # sequenced = distinct sequences seen + duplicates + late, over live and retired streams
    assert snap.sequenced == snap.expected - snap.lost + snap.duplicates + snap.late
    assert len(rec.counts.streams.streams) <= max_streams and len(rec.counts.sources.rows) <= max_sources
    assert snap.streams_seen - snap.streams_evicted == snap.streams_tracked
    assert snap.sources_seen - snap.sources_evicted == len(rec.counts.sources.rows)
    if seq_format == "none":
        assert snap.sequenced == 0


@given(st.lists(seqs, min_size=1, max_size=60), st.booleans())
@settings(max_examples=300)
def test_tracker_classifies_any_sequence_and_the_counts_add_up(
    values: list[int], wrap32: bool
) -> None:
    tracker = (Wrap32Tracker if wrap32 else StreamTracker)(values[0], 16)
    for v in values[1:]:
        tracker.see(v & 0xFFFFFFFF if wrap32 else v)
    assert tracker.datagrams == len(values)
    assert tracker.lost >= 0 and tracker.base <= tracker.high
    assert tracker.reordered <= tracker.distinct - 1 - tracker.restarts
    assert tracker.late >= 0 and tracker.restarts <= len(values) // 2


@given(st.lists(st.integers(0, 15), min_size=1, max_size=60),
       st.integers(0, 2**33), st.booleans())
@settings(max_examples=300)
def test_within_the_window_every_count_is_what_the_sequence_says(
    values: list[int], offset: int, wrap32: bool
) -> None:
    """No sequence falls a window (16) behind the highest, so nothing is late and nothing
    restarts: each count follows from the sequences alone, worked out here apart from
    the tracker (near 2**32, the 32-bit tracker counts across the wrap)."""
    seqs = [offset + v for v in values]
    if wrap32:
        tracker: StreamTracker = Wrap32Tracker(seqs[0] & 0xFFFFFFFF, 16)
    else:
        tracker = StreamTracker(seqs[0], 16)
    for v in seqs[1:]:
        tracker.see(v & 0xFFFFFFFF if wrap32 else v)
    firsts = list(dict.fromkeys(seqs))  # each sequence where it first arrived
    assert tracker.distinct == len(firsts)
    assert tracker.expected == max(seqs) - min(seqs) + 1
    assert tracker.lost == max(seqs) - min(seqs) + 1 - len(firsts)
    assert tracker.duplicates == len(seqs) - len(firsts)
    assert tracker.reordered == sum(v < max(firsts[:i]) for i, v in enumerate(firsts) if i)
    assert tracker.late == tracker.restarts == 0


def test_a_sender_that_starts_counting_again_is_a_restart_not_late() -> None:
    """A sender restarted with the same port and stream: 0 .. 19999, then 0 .. 99. The
    second run's first two datagrams, far behind the highest, begin a new run."""
    t = StreamTracker(0, 1024)
    for seq in [*range(1, 20_000), *range(100)]:
        t.see(seq)
    assert (t.restarts, t.late, t.lost, t.duplicates, t.reordered) == (1, 0, 0, 0, 0)
    assert t.datagrams == 20_100 and t.expected == 20_100


def test_isolated_stragglers_stay_late() -> None:
    t = StreamTracker(0, 16)
    for seq in [*range(1, 100), 5, 50, 7, 99, 100]:  # 5, 50, 7 are not consecutive
        t.see(seq)
    assert (t.restarts, t.late, t.duplicates, t.lost) == (0, 3, 1, 0)


def test_sequence_zero_and_max_and_a_huge_jump() -> None:
    t = StreamTracker(0, 16)
    t.see(U64)  # a jump over the whole space: everything between is lost, nothing raises
    t.see(U64)  # duplicate
    t.see(1)  # far behind the highest: late
    assert (t.lost, t.duplicates, t.late, t.datagrams) == (U64 - 1, 1, 1, 4)
    t2 = StreamTracker(U64, 16)
    t2.see(0)
    assert (t2.late, t2.datagrams) == (1, 2)


def test_a_new_stream_id_in_every_datagram_stays_bounded() -> None:
    table = StreamTable(max_streams=64, window=16)
    for i in range(10_000):
        key = (("127.0.0.1", 9), i)
        tracker = table.streams.get(key)
        if tracker is None:
            table.new(key, i)
        else:
            tracker.see(i)
    assert len(table.streams) <= 64 and table.seen == 10_000
    assert table.evicted == 10_000 - len(table.streams)
    assert table.totals().sequenced == 10_000 and table.totals().lost == 0


def test_a_flood_of_sources_stays_bounded_and_keeps_the_busy_one() -> None:
    rec = Recorder("irp", seq_format="auto", max_sources=128, max_streams=128)
    busy = ("127.0.0.1", 5000)
    for i in range(5000):
        rec.record(b"", (f"127.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 1024 + i), None, False)
        rec.record(bytes(payload.build(0, i, 0, b"x")), busy, None, False)
    snap = rec.snapshot(1.0, 0, {}, None)
    assert snap.received == 10_000 and snap.sequenced == 5000 and snap.unsequenced == 5000
    assert len(rec.counts.sources.rows) <= 128 and snap.sources_evicted == 5001 - len(rec.counts.sources.rows)
    assert snap.sources[0].address == "127.0.0.1" and snap.sources[0].datagrams == 5000
    assert snap.lost == 0 and snap.streams_tracked == 1


def _run_of(stream: int, start: int, n: int, lie: bool) -> list[bytes]:
    """n in-order same-size wskrecv datagrams (the per-list fast path), optionally with
    one lying header in the middle."""
    out = [bytes(payload.build(stream, start + i, 0, b"run!")) for i in range(n)]
    if lie and n > 2:
        out[n // 2] = wskrecv_header(stream, start + n // 2, b"run!", 1)
    return out


runs = st.builds(_run_of, st.integers(0, 2), st.sampled_from([0, 5, U64 - 40, 1 << 40]),
                 st.integers(1, 40), st.booleans())
lists = st.lists(st.one_of(runs, st.lists(payloads, max_size=8)), max_size=8)


@given(lists, st.sampled_from(["auto", "wskrecv", "sockperf", "iperf3", "none"]),
       st.sampled_from([2, 1024]), remotes)
@settings(max_examples=200, deadline=None)
def test_per_list_counting_agrees_with_per_datagram_counting(
    batches: list[list[bytes]], seq_format: str, max_streams: int, remote: tuple
) -> None:
    """The event path counts a callback's list at once (record_many); whatever the list
    holds, it must count what `record` counts datagram by datagram."""
    one = Recorder("event", seq_format=seq_format, max_streams=max_streams, window=64)
    many = Recorder("event", seq_format=seq_format, max_streams=max_streams, window=64)
    now = 5_000
    for batch in batches:
        for i, d in enumerate(batch):
            one.record(memoryview(d), remote, 1_000 + i, False, now)
        many.record_many([memoryview(d) for d in batch], [remote] * len(batch),
                         [1_000 + i for i in range(len(batch))], now)
    a, b = one.snapshot(1.0, 0, {}, None), many.snapshot(1.0, 0, {}, None)
    fields = ("received", "bytes", "sequenced", "unsequenced", "corrupt", "lost", "reordered",
              "duplicates", "late", "restarts", "expected", "streams_tracked", "streams_evicted")
    assert {f: getattr(a, f) for f in fields} == {f: getattr(b, f) for f in fields}
    assert a.sequenced + a.unsequenced == a.received == sum(map(len, batches))
