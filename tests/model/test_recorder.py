"""The recorder: headers of each format, corrupt and garbage payloads, latency, sources,
sizes, snapshots (no network)."""

from __future__ import annotations

import pickle
import random
import struct
from dataclasses import FrozenInstanceError
from typing import Optional

import pytest

from wskrecv import payload
from wskrecv.stats import Recorder
from wskrecv.stats.hostudp import HostUdp, parse_snmp, parse_snmp6
from wskrecv.stats.latency import BUCKETS, Histogram, bucket_bounds, bucket_of
from wskrecv.stats.modes import IrpStatistics
from wskrecv.stats.snapshot import Snapshot
from wskrecv.stats.thresholds import Thresholds

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")

SRC = ("127.0.0.1", 40000)
T0 = 1_700_000_000_000_000_000


def feed(rec: Recorder, datagrams: list, remote: tuple = SRC) -> Snapshot:
    for i, d in enumerate(datagrams):
        rec.record(memoryview(bytes(d)), remote, T0 + i * 1000 + 500, False, T0 + i * 1000 + 800)
    return rec.snapshot(1.0, 0, {}, None)


def wskr(seqs: list[int], stream: int = 1) -> list[bytearray]:
    return [payload.build(stream, s, T0 + i * 1000, b"body" * 4) for i, s in enumerate(seqs)]


def test_wskrecv_datagrams_with_gap_swap_and_duplicate() -> None:
    snap = feed(Recorder("irp"), wskr([0, 1, 3, 2, 2, 6, 7]))
    assert (snap.lost, snap.reordered, snap.duplicates) == (2, 1, 1)
    assert (snap.corrupt, snap.unsequenced, snap.sequenced) == (0, 0, 7)
    assert snap.loss_pct == 25.0 and snap.streams_tracked == 1


def test_corrupt_body_is_counted_and_still_sequenced() -> None:
    dgs = wskr([0, 1, 2])
    dgs[1][-1] ^= 0x55
    snap = feed(Recorder("irp"), dgs)
    assert snap.corrupt == 1 and snap.lost == 0 and snap.sequenced == 3


def test_garbage_is_unsequenced_in_every_format() -> None:
    rng = random.Random(7)
    junk = [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80))) for _ in range(50)]
    junk.append(b"WSKR" + bytes(60))  # the magic, then nonsense
    for fmt in ("auto", "wskrecv", "sockperf"):
        snap = feed(Recorder("irp", seq_format=fmt), junk)
        assert snap.unsequenced == len(junk) and snap.sequenced == 0, fmt


def test_auto_reads_only_wskrecv_headers() -> None:
    sp = [payload.build_sockperf(i, 64) for i in range(5)]
    snap = feed(Recorder("irp"), sp + wskr([0, 1]))
    assert snap.unsequenced == 5 and snap.sequenced == 2


def test_none_reads_no_header() -> None:
    snap = feed(Recorder("irp", seq_format="none"), wskr([0, 5]))
    assert snap.unsequenced == 2 and snap.lost == 0 and snap.latency is None


def test_sockperf_format() -> None:
    sp = [payload.build_sockperf(s, 64) for s in (10, 11, 13, 12, 13)]
    snap = feed(Recorder("irp", seq_format="sockperf"), sp)
    assert (snap.lost, snap.reordered, snap.duplicates, snap.sequenced) == (0, 1, 1, 5)
    assert snap.latency is None and snap.jitter_ns is None  # no send time in sockperf


def test_iperf3_format_wraps_its_32_bit_counter() -> None:
    top = 2**32
    dgs = [payload.IPERF3.pack(1, 0, c) + bytes(20) for c in (top - 2, top - 1, 1, 2)]
    snap = feed(Recorder("irp", seq_format="iperf3"), dgs)
    assert (snap.lost, snap.reordered, snap.sequenced) == (1, 0, 4)  # 0 missing


def test_iperf3_64_format() -> None:
    dgs = [payload.IPERF3_64.pack(1, 0, c) + bytes(20) for c in (2**40, 2**40 + 2)]
    snap = feed(Recorder("irp", seq_format="iperf3-64"), dgs)
    assert snap.lost == 1


def test_streams_are_told_apart_by_source_and_stream_id() -> None:
    rec = Recorder("irp")
    a, b = wskr([0, 1, 2], stream=1), wskr([0, 1, 2], stream=2)
    for x, y in zip(a, b):  # interleaved: no false reordering
        rec.record(x, SRC, None, False)
        rec.record(y, SRC, None, False)
        rec.record(x, ("127.0.0.2", 1), None, False)
    snap = rec.snapshot(1.0, 0, {}, None)
    assert snap.streams_tracked == 3 and (snap.lost, snap.reordered, snap.duplicates) == (0, 0, 0)


def test_latency_jitter_and_application_latency() -> None:
    rec = Recorder("irp")
    for i, d in enumerate(wskr([0, 1, 2, 3])):  # sent at T0 + i us, kernel +500 ns
        rec.record(d, SRC, T0 + i * 1000 + 500, False, T0 + i * 1000 + 800)
    snap = rec.snapshot(1.0, 0, {}, None)
    assert snap.latency is not None and snap.latency.max == 500 and snap.latency.count == 4
    assert snap.app_latency is not None and snap.app_latency.max == 300
    assert 296 <= snap.app_latency.p50 <= 300  # the middle of its bucket (296-303), capped
    assert snap.jitter_ns == 0.0
    d = snap.summary_dict()
    assert set(d["latency_ms"]) == {"p50", "p90", "p99", "max"} and d["latency_ms"]["max"] == 0.0005


def test_a_send_time_of_zero_is_no_send_time() -> None:
    """A wskrecv header whose sender did not stamp it (send time 0) gives no one-way
    latency and no jitter, for the run or its stream (it gave 56 years), and is still
    sequenced, whole or truncated."""
    rec = Recorder("irp")
    for i, s in enumerate([0, 1, 3, 2]):
        d = payload.build(1, s, 0, b"body" * 4)
        rec.record(memoryview(bytes(d[:40] if s == 3 else d)), SRC, T0 + i * 1000, s == 3,
                   T0 + i * 1000 + 300)
    snap = rec.snapshot(1.0, 0, {}, None, streams_limit=None)
    assert (snap.received, snap.unsequenced, snap.lost, snap.reordered) == (4, 0, 0, 1)
    assert snap.latency is None and snap.jitter_ns is None
    (stream,) = snap.summary_dict()["streams"]
    assert stream["latency_ms"] is None and stream["jitter_ms"] is None
    assert snap.app_latency is not None  # the completion's own latency still counts


def test_interval_latency_restarts_each_interval_and_the_run_keeps_all() -> None:
    rec = Recorder("irp")
    rec.record(wskr([0])[0], SRC, T0 + 1_000_000, False, T0 + 1_000_000)
    first = rec.snapshot(1.0, 0, {}, None)
    rec.record(wskr([0, 1])[1], SRC, T0 + 1000 + 2_000_000, False, T0 + 3_000_000)
    second = rec.snapshot(2.0, 0, {}, None)
    assert first.interval_latency is not None and first.interval_latency.count == 1
    assert second.interval_latency is not None and second.interval_latency.count == 1
    assert second.latency is not None and second.latency.count == 2
    assert second.interval_dict()["latency_ms"]["max"] == 2.0
    assert second.summary_dict()["latency_ms"]["max"] == 2.0


def test_counted_latencies_land_in_the_buckets_of_bucket_of() -> None:
    """The counting kernel (either core) picks the buckets Histogram.add picks."""
    rng = random.Random(1)
    values = [0, 1, 63, 64, 65, 127, 128, 2**40 + 12345, 2**63 + 5] + [
        rng.getrandbits(rng.randrange(1, 64)) for _ in range(2000)
    ]
    rec = Recorder("irp", seq_format="none")
    ref = Histogram()
    for v in values:
        rec.record(b"x", SRC, T0, False, T0 + v)
        ref.add(v)
    app = rec.counts.latency(False)[1]
    assert app.counts == ref.counts and app.max == ref.max
    # The exact sum (Prometheus' _sum), past 64 bits in either core.
    assert app.sum == ref.sum == sum(values) > 2**64


def test_the_run_histograms_keep_the_exact_sum_across_intervals() -> None:
    rec = Recorder("irp")
    rec.record(wskr([0])[0], SRC, T0 + 1_000_000, False, T0 + 1_000_250)
    rec.snapshot(1.0, 0, {}, None)  # the first interval ends
    rec.record(wskr([0, 1])[1], SRC, T0 + 1000 + 2_000_000, False, T0 + 3_000_000)
    owd, app = rec.run_histograms()
    assert (owd.sum, owd.count) == (1_000_000 + 2_000_000, 2)
    assert (app.sum, app.count) == (250 + (3_000_000 - 2_001_000), 2)


def test_bucket_bounds_hold_their_values_within_three_percent() -> None:
    for v in [0, 1, 63, 64, 100, 1000, 123_456_789, 2**64 - 1]:
        lo, hi = bucket_bounds(bucket_of(v))
        assert lo <= v <= hi and (hi - lo) <= max(1, v) * 0.032
    assert bucket_of(2**64 - 1) == BUCKETS - 1


def test_percentiles_are_nearest_rank_within_a_bucket() -> None:
    h = Histogram()
    for v in range(1, 101):
        h.add(v * 1_000_000)  # 1..100 ms
    p = h.percentiles()
    assert p is not None and p.count == 100 and p.max == 100_000_000
    for got, want in ((p.p50, 50e6), (p.p90, 90e6), (p.p99, 99e6)):
        assert abs(got - want) <= want * 0.032


def test_sources_are_bounded_and_keep_the_busiest() -> None:
    rec = Recorder("irp", seq_format="none", max_sources=4)
    for _ in range(10):
        rec.record(b"busy", ("10.0.0.1", 1), None, False)
    for port in range(2, 12):  # ten one-datagram senders
        rec.record(b"x", ("10.0.0.2", port), None, False)
    snap = rec.snapshot(1.0, 0, {}, None)
    assert snap.sources[0].address == "10.0.0.1" and snap.sources[0].datagrams == 10
    assert snap.sources[0].bytes == 40
    assert snap.sources_seen == 11 and snap.sources_evicted > 0
    assert len(snap.sources) <= 4


def test_sizes() -> None:
    snap = feed(Recorder("irp", seq_format="none"), [b"", b"a" * 64, b"a" * 100, b"a" * 1400])
    z = snap.sizes
    assert (z.min, z.max, z.mean) == (0, 1400, 391.0)
    assert z.buckets() == [(0, 0, 1), (64, 127, 2), (1024, 2047, 1)]
    assert snap.summary_dict()["sizes"]["histogram"][1] == {"min": 64, "max": 127, "count": 2}


def test_summary_and_interval_carry_the_documented_fields() -> None:
    snap = feed(Recorder("irp"), wskr([0, 2]))
    fields = {"lost", "reordered", "duplicates", "corrupt", "unsequenced", "late", "loss_pct",
              "reorder_pct", "jitter_ms", "latency_ms", "app_latency_ms", "kernel_drops",
              "host_udp", "sources", "sources_seen", "sources_evicted", "sizes", "streams_tracked",
              "streams_seen", "streams_evicted", "seq_format"}
    assert fields <= set(snap.summary_dict()) and fields <= set(snap.interval_dict())
    assert set(snap.summary_dict()["sources"][0]) == {"address", "port", "datagrams", "bytes"}


def test_snapshots_pickle_for_the_display_process() -> None:
    rec = Recorder("irp")
    feed(rec, wskr([0, 1]))
    snap = rec.snapshot(1.0, 3, {"IrpNotReused": 1}, IrpStatistics(4, 0, 0, 0))
    back = pickle.loads(pickle.dumps(snap))
    assert back == snap and back.mode_stats.outstanding == 4  # type: ignore[union-attr]
    with pytest.raises(FrozenInstanceError):
        back.mode_stats.outstanding = 5  # type: ignore[misc,union-attr]


def test_record_many_counts_each_datagram() -> None:
    rec = Recorder("event", clock_ns=lambda: T0 + 900)
    rec.record_many(wskr([0, 1, 3]), [SRC] * 3, [T0 + 100] * 3)
    snap = rec.snapshot(1.0, 0, {}, None)
    assert snap.received == 3 and snap.lost == 1
    assert snap.app_latency is not None and snap.app_latency.max == 800


SNMP = """Ip: Forwarding DefaultTTL
Ip: 1 64
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors
Udp: {n} 2 {e} 9 {r} 0 1
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors
UdpLite: 0 0 0 0 0 0 0
"""


def test_host_udp_counters_parse_and_delta(tmp_path) -> None:  # type: ignore[no-untyped-def]
    snmp, snmp6 = tmp_path / "snmp", tmp_path / "snmp6"
    snmp.write_text(SNMP.format(n=100, e=5, r=4))
    snmp6.write_text("Udp6InDatagrams 7\nUdp6RcvbufErrors 1\nIp6InReceives 3\n")
    assert parse_snmp(snmp.read_text())["RcvbufErrors"] == 4
    assert parse_snmp6(snmp6.read_text()) == {"InDatagrams": 7, "RcvbufErrors": 1}
    host = HostUdp(str(snmp), str(snmp6))
    snmp.write_text(SNMP.format(n=150, e=8, r=6))
    assert host.delta() == {"in_datagrams": 50, "in_errors": 3, "rcvbuf_errors": 2,
                            "in_csum_errors": 0, "no_ports": 0}


# /proc/net/snmp6 as Linux writes it: names padded with spaces then a tab, other
# protocols before the Udp6 lines and UdpLite6 after them.
SNMP6 = (
    "Ip6InReceives                   \t12\nIcmp6InMsgs                     \t3\n"
    "Udp6InDatagrams                 \t638892\nUdp6NoPorts                     \t0\n"
    "Udp6InErrors                    \t128\nUdp6RcvbufErrors                \t127\n"
    "UdpLite6InDatagrams             \t5\nUdpLite6RcvbufErrors            \t4\n"
)


def test_host_udp6_counters_are_the_udp6_lines_only() -> None:
    assert parse_snmp6(SNMP6) == {"InDatagrams": 638892, "NoPorts": 0, "InErrors": 128,
                                  "RcvbufErrors": 127}
    assert parse_snmp6("Ip6InReceives\t3\n") == {} and parse_snmp6("") == {}


def test_host_udp_unreadable_is_none(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert HostUdp(str(tmp_path / "nope"), str(tmp_path / "nope6")).delta() is None


def test_thresholds() -> None:
    snap = feed(Recorder("irp"), wskr([0, 2, 1, 5]))  # 2 of 6 lost, 1 of 4 reordered
    assert Thresholds(max_loss=40).excesses(snap) == ()
    assert Thresholds(max_loss=40).judge()(snap) is None
    (loss,) = Thresholds(max_loss=33.3).excesses(snap)
    assert (loss.threshold, loss.count, loss.of, loss.limit) == ("max_loss", 2, 6, 33.3)
    # The thresholds name their fields; the caller (the command line) names its flags.
    assert Thresholds(max_loss=33.3).judge()(snap) == "loss 33.333% (2 of 6) is above max_loss 33.3%"
    named = Thresholds(max_loss=33.3).judge(lambda field: "--" + field.replace("_", "-"))
    assert named(snap) == "loss 33.333% (2 of 6) is above --max-loss 33.3%"
    assert "reordering 25.000% (1 of 4)" in (Thresholds(max_reorder=10).judge()(snap) or "")
    assert not Thresholds()


def test_host_udp_reuses_a_fresh_reading_only_when_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    snmp, snmp6 = tmp_path / "snmp", tmp_path / "snmp6"
    snmp.write_text(SNMP.format(n=100, e=5, r=4))
    now = [0.0]
    host = HostUdp(str(snmp), str(snmp6), clock=lambda: now[0])
    assert host.delta(max_age=1.0)["rcvbuf_errors"] == 0  # type: ignore[index]
    snmp.write_text(SNMP.format(n=100, e=5, r=9))
    now[0] = 0.5
    assert host.delta(max_age=1.0)["rcvbuf_errors"] == 0  # type: ignore[index]
    assert host.delta()["rcvbuf_errors"] == 5  # type: ignore[index]


def _state(rec: Recorder) -> tuple:
    snap = rec.snapshot(1.0, 0, {}, None)
    rows = sorted((k, tuple(v)) for k, v in rec.counts.sources.rows.items())
    owd, app = rec.counts.latency(False)
    return (snap, rows, owd.counts, app.counts, rec._owd_run.counts, rec._app_run.counts,
            owd.max, app.max)


@pytest.mark.parametrize("seed", range(12))
def test_record_many_counts_exactly_as_record_does(seed: int) -> None:
    """The per-list path (event callbacks) against the per-datagram one, on lists mixing
    sizes, senders, missing timestamps, negative latencies, wskrecv headers (in order,
    reordered, corrupt), sockperf-like junk and garbage."""
    rng = random.Random(seed)
    now = T0 + 5_000_000
    one, many = Recorder("event", clock_ns=lambda: now), Recorder("event", clock_ns=lambda: now)
    senders = [SRC, ("127.0.0.2", 9), ("::1", 7, 0, 0)]
    seq = 0
    for _ in range(30):
        n = rng.choice([1, 2, 5, 64])
        datas, remotes, stamps = [], [], []
        same_size, same_sender = rng.random() < 0.5, rng.random() < 0.5
        for _ in range(n):
            kind = rng.random()
            if kind < 0.5:
                seq += rng.choice([1, 1, 1, 2, -1, 0])
                d = payload.build(rng.randrange(2), max(seq, 0), now - rng.randrange(-10**4, 10**9),
                                  b"x" * (8 if same_size else rng.randrange(0, 40)))
                if rng.random() < 0.05:
                    d[-1] ^= 1
            elif kind < 0.6:
                d = b"WSKR" + bytes(rng.randrange(0, 50))
            else:
                d = bytes(rng.randrange(256) for _ in range(44 if same_size else rng.randrange(0, 90)))
            datas.append(bytes(d))
            remotes.append(SRC if same_sender else rng.choice(senders))
            stamps.append(None if rng.random() < 0.1 else now - rng.randrange(-1000, 10**8))
        for d, r, t in zip(datas, remotes, stamps):
            one.record(d, r, t, False, now)
        many.record_many(datas, remotes, stamps)
        if rng.random() < 0.2:
            one.snapshot(1.0, 0, {}, None)
            many.snapshot(1.0, 0, {}, None)
    assert _state(many) == _state(one)


@pytest.mark.parametrize("seed", range(6))
def test_record_many_of_in_order_lists_counts_exactly_as_record_does(seed: int) -> None:
    """In-order same-size wskrecv lists from one sender (the usual event list): the same
    counts as `record`, across gaps, corrupt bodies, missing timestamps and the ring's
    wrap."""
    rng = random.Random(seed)
    now = T0 + 5_000_000
    kw = {"clock_ns": lambda: now, "window": 64}
    one, many = Recorder("event", **kw), Recorder("event", **kw)
    seq = 0
    for _ in range(40):
        n = rng.choice([1, 7, 30, 64])
        seq += rng.choice([0, 0, 0, 3])  # mostly continuing, sometimes after a gap
        datas, stamps = [], []
        for i in range(n):
            d = payload.build(5, seq + i, now - rng.randrange(0, 10**6), b"y" * 28)
            if rng.random() < 0.03:
                d[-1] ^= 1
            datas.append(bytes(d))
            stamps.append(None if rng.random() < 0.05 else now - rng.randrange(0, 10**5))
        seq += n
        for d, t in zip(datas, stamps):
            one.record(d, SRC, t, False, now)
        many.record_many(datas, [SRC] * n, stamps)
    assert _state(many) == _state(one)
    assert many.counts.corrupt == one.counts.corrupt
    assert many.counts.streams.totals().lost == one.counts.streams.totals().lost


def test_sockperf_messages_that_ask_for_a_reply_are_counted_in_both_formats() -> None:
    """sockperf ping-pong and under-load ask for replies (flags CLIENT|PONG_REQUEST, 3):
    wskrecv never replies, so it counts them and says so. tp's messages (flags 1), a
    length field that disagrees and wskrecv's own datagrams are not such requests."""
    def message(seq: int, flags: int, size: int = 64, length: Optional[int] = None) -> bytes:
        out = bytearray(payload.build_sockperf(seq, size))
        struct.pack_into("!H", out, 8, flags)
        if length is not None:
            struct.pack_into("!I", out, 10, length)
        return bytes(out)

    mix = [message(0, 3), message(1, 1), message(2, 3, 14), message(3, 2), message(4, 3, length=65),
           message(5, 7)] + [bytes(d) for d in wskr([0, 1])]
    for fmt in ("auto", "sockperf", "none"):
        snap = feed(Recorder("irp", seq_format=fmt), mix)
        assert snap.reply_requests == 3, fmt  # seq 0, 2 and 5 (warm-up flag too)
        assert snap.summary_dict()["reply_requests"] == 3
