"""Honest numbers without a network: the summary's rate, loss at exit, per-interval loss
and truncated datagrams in the sequence analysis (issue 13)."""

from __future__ import annotations

import pytest

from wskrecv import payload
from wskrecv.stats import Recorder
from wskrecv.stats.snapshot import Snapshot

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")

S = 1_000_000_000


def snap(**kw: object) -> Snapshot:
    base = dict(mode="irp", elapsed_s=6.0, received=100_001, bytes=6_400_064, truncated=0,
                kernel_drops=0, violations=0)
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_the_rate_is_over_first_to_last_datagram_not_the_run() -> None:
    s = snap(start_ns=10 * S, first_ns=10 * S + S // 2, last_ns=15 * S + S // 2)
    assert s.datagrams_per_s == pytest.approx(20_000.0)  # not 100001 / 6
    d = s.summary_dict()
    assert (d["first_s"], d["last_s"], d["duration_s"]) == (0.5, 5.5, 6.0)
    assert d["rate_over"] == "first to last datagram"
    assert d["first_time"] == "1970-01-01T00:00:10.500000Z"


def test_without_a_span_the_rate_is_over_the_run() -> None:
    s = snap(received=1, bytes=64, first_ns=S, last_ns=S)
    assert s.datagrams_per_s == pytest.approx(1 / 6) and s.summary_dict()["rate_over"] == "run"


def test_loss_at_exit_counts_unread_and_tail_drops() -> None:
    s = snap(received=16_128, lost=0, expected=16_128, sequenced=16_128,
             unread_at_exit=83_000, drops_after_last_read=872)
    assert s.loss_pct == 0
    assert s.loss_at_exit_pct == pytest.approx(100 * 83_872 / 100_000)
    unsequenced = snap(received=10, unread_at_exit=10)
    assert unsequenced.loss_at_exit_pct == 50.0


def test_each_interval_has_its_own_lost_and_expected() -> None:
    rec = Recorder("irp")

    def feed(seqs: list[int]) -> None:
        for seq in seqs:
            rec.record(payload.build(1, seq, 0, b"x" * 28), ("127.0.0.1", 9), None, False)

    feed([0, 1, 2, 5])  # 3, 4 missing so far
    first = rec.snapshot(1.0, 0, {}, None)
    feed([6, 7, 9])  # 8 missing
    second = rec.snapshot(2.0, 0, {}, None)
    assert (first.interval_lost, first.interval_expected) == (2, 6)
    assert (second.interval_lost, second.interval_expected) == (1, 4)
    assert second.lost == 3 and second.interval_dict()["interval_loss_pct"] == 25.0


def test_a_truncated_datagram_whose_header_fits_is_still_sequenced() -> None:
    rec = Recorder("irp")
    whole = bytes(payload.build(4, 0, 0, b"y" * 964))
    rec.record(whole[:512], ("127.0.0.1", 9), None, True)
    rec.record(bytes(payload.build(4, 1, 0, b"y" * 964)), ("127.0.0.1", 9), None, False)
    s = rec.snapshot(1.0, 0, {}, None)
    assert (s.sequenced, s.unsequenced, s.corrupt, s.lost) == (2, 0, 0, 0)
    # Too short for the header: unsequenced, as before.
    rec.record(whole[:20], ("127.0.0.1", 9), None, True)
    assert rec.snapshot(2.0, 0, {}, None).unsequenced == 1
