"""Sequence analysis from hand-built sequences: gaps, swaps, duplicates, wraparound (no
network)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wskrecv.stats.sequence import StreamTable, StreamTracker, Wrap32Tracker


def track(seqs: list[int], window: int = 64, cls: type = StreamTracker) -> StreamTracker:
    t = cls(seqs[0], window)
    for s in seqs[1:]:
        t.see(s)
    return t


def counts(t: StreamTracker) -> tuple[int, int, int, int]:
    return t.lost, t.reordered, t.duplicates, t.late


def test_in_order_has_nothing_to_report() -> None:
    t = track(list(range(1000)))
    assert counts(t) == (0, 0, 0, 0)
    assert t.datagrams == 1000 and t.expected == 1000


def test_gaps_are_lost() -> None:
    assert counts(track([0, 1, 2, 5, 6, 9])) == (4, 0, 0, 0)  # 3, 4, 7, 8


def test_a_swap_is_one_reordered_and_nothing_lost() -> None:
    assert counts(track([0, 2, 1, 3])) == (0, 1, 0, 0)


def test_a_late_arrival_fills_its_gap() -> None:
    t = track([0, 1, 4, 5])
    assert t.lost == 2
    t.see(2)
    assert counts(t) == (1, 1, 0, 0)


def test_duplicates_whether_latest_or_older() -> None:
    assert counts(track([0, 1, 1, 2, 0, 2])) == (0, 0, 3, 0)


def test_a_duplicate_of_a_reordered_datagram_is_a_duplicate() -> None:
    assert counts(track([0, 2, 1, 1])) == (0, 1, 1, 0)


def test_first_datagram_overtaken_extends_the_range_down() -> None:
    t = track([5, 3])
    assert t.base == 3 and counts(t) == (1, 1, 0, 0)  # 4 missing
    t.see(4)
    assert counts(t) == (0, 2, 0, 0)


def test_beyond_the_window_is_late_and_stays_lost() -> None:
    t = track([0, 1, 20], window=8)  # 2..19 lost
    assert t.lost == 18
    t.see(13)  # 20 - 8 < 13: within the window
    t.see(12)  # 12 = 20 - 8: left the window
    assert counts(t) == (17, 1, 0, 1)


def test_a_jump_longer_than_the_window_clears_it() -> None:
    t = track([0, 1, 2, 3, 100], window=8)
    for s in (99, 98, 97):  # were never seen: reordered, not duplicates
        t.see(s)
    t.see(99)
    assert counts(t) == (100 - 4 - 3, 3, 1, 0)


def test_the_window_ring_wraps_cleanly() -> None:
    seqs = list(range(0, 50))
    seqs.remove(30)
    t = track(seqs, window=8)
    t.see(45)  # a duplicate inside the window after the ring wrapped several times
    assert counts(t) == (1, 0, 1, 0)


def test_iperf3_32_bit_counter_wraps_around() -> None:
    top = 2**32
    t = track([top - 3, top - 2, top - 1, 0, 1, 2], cls=Wrap32Tracker)
    assert counts(t) == (0, 0, 0, 0) and t.high == top + 2


def test_iperf3_wraparound_with_loss_swap_and_duplicate() -> None:
    top = 2**32
    t = track([top - 2, 0, top - 1, 2, 2], cls=Wrap32Tracker)  # 1 lost, top-1 overtaken
    assert counts(t) == (1, 1, 1, 0)


def test_rfc3550_jitter() -> None:
    t = StreamTracker(0, transit_ns=100)
    assert t.jitter_ns is None
    t.see(1, 116)  # D = 16: J = 0 + (16 - 0) / 16
    assert t.jitter_ns == 1.0
    t.see(2, 100)  # D = 16: J = 1 + (16 - 1) / 16
    assert t.jitter_ns == 1.9375
    t.see(3, 100)  # D = 0
    assert t.jitter_ns == 1.9375 - 1.9375 / 16


def test_stream_table_evicts_the_idle_half_and_keeps_their_counts() -> None:
    table = StreamTable(max_streams=4, window=16)
    for i in range(4):
        table.new(("h", i), 0)
    busy = table.streams[("h", 3)]
    for s in (1, 3):  # one lost on the busy stream
        busy.see(s)
    table.streams[("h", 0)].see(5)  # 4 lost on an idle one (after this)
    table.new(("h", 4), 0)  # full: the two least active since the last look retire
    assert table.evicted == 2 and len(table.streams) == 3
    assert ("h", 3) in table.streams and ("h", 0) in table.streams
    totals = table.totals()
    assert totals.lost == 1 + 4 and totals.sequenced == 4 + 3 + 1


@given(st.lists(st.integers(0, 40), min_size=1, max_size=80))
def test_matches_a_set_based_reference(seqs: list[int]) -> None:
    """With a window wider than the sequences' span, the tracker agrees with sets."""
    t = track(seqs, window=64)
    seen: set[int] = set()
    high = -1
    reordered = duplicates = 0
    for s in seqs:
        if s in seen:
            duplicates += 1
        elif s < high:
            reordered += 1
        seen.add(s)
        high = max(high, s)
    lost = max(seqs) - min(seqs) + 1 - len(seen)
    assert counts(t) == (lost, reordered, duplicates, 0)
