"""The generator's parts: payload plans, send order, pacing (fake clock), and the packets
scapy crafts, parsed back by scapy as bytes."""

from __future__ import annotations

import socket

import pytest
from scapy.layers.inet import IP, UDP, defragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, defragment6

from wskrecv import payload
from wskrecv.errors import UsageError
from wskrecv.generator import (
    Pacer,
    PayloadPlan,
    Sender,
    SendOrder,
    SendSpec,
    SpecError,
    parse_pattern,
    parse_sizes,
    resolve_destination,
    validate,
)
from wskrecv.generator.craft import PacketCrafter, udp_checksum, wrong_checksum


def spec_for(host: str = "127.0.0.1", port: int = 5001, **kw: object) -> SendSpec:
    return validate(SendSpec(resolve_destination(host, port), **kw))  # type: ignore[arg-type]


# -- payloads -------------------------------------------------------------------------


def test_wskrecv_payloads_carry_stream_sequence_time_and_a_valid_crc() -> None:
    plan = PayloadPlan("wskrecv", 7, parse_sizes("64"))
    data = bytes(plan.fill(41, 123_456))
    assert len(data) == 64
    assert payload.parse_wskrecv(data) == payload.Header(7, 41, 123_456, True)
    assert data[payload.HEADER_LEN:] == bytes(range(64 - payload.HEADER_LEN))


def test_a_size_mix_is_used_in_turn_and_a_range_is_seeded() -> None:
    plan = PayloadPlan("wskrecv", 0, parse_sizes("64,512,1400"))
    assert [plan.size_of(s) for s in range(6)] == [64, 512, 1400, 64, 512, 1400]
    a = PayloadPlan("none", 0, parse_sizes("0-1400"), seed=3)
    b = PayloadPlan("none", 0, parse_sizes("0-1400"), seed=3)
    c = PayloadPlan("none", 0, parse_sizes("0-1400"), seed=4)
    sizes = [a.size_of(s) for s in range(1000)]
    assert sizes == [b.size_of(s) for s in range(1000)] != [c.size_of(s) for s in range(1000)]
    assert min(sizes) >= 0 and max(sizes) <= 1400 and len(set(sizes)) > 500


def test_sockperf_and_none_formats() -> None:
    sp = PayloadPlan("sockperf", 0, parse_sizes("100"))
    assert payload.parse_sockperf(bytes(sp.fill(2**40, 0))) == payload.Header(0, 2**40, None)
    none = PayloadPlan("none", 0, parse_sizes("0,3"))
    assert [bytes(none.fill(s, 0)) for s in range(2)] == [b"", b"\x00\x01\x02"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [("abc", "expected BYTES"), ("9-3", "increasing range"), ("64,", "expected BYTES")],
)
def test_bad_size_specs_are_usage_errors(text: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        parse_sizes(text)


def test_sizes_must_fit_the_header_and_the_family() -> None:
    with pytest.raises(UsageError, match="at least 36 bytes") as caught:
        spec_for(sizes=parse_sizes("35"))
    # The spec names its own fields; the command line words them as its flags.
    assert isinstance(caught.value, SpecError) and caught.value.field == "sizes"
    assert "use seq_format none" in str(caught.value)
    assert caught.value.words(lambda field: f"<{field}>").startswith("<sizes> 35: ")
    assert "use <seq_format> none for smaller ones" in caught.value.words(lambda field: f"<{field}>")
    spec_for(sizes=parse_sizes("0"), seq_format="none")
    spec_for(sizes=parse_sizes("65507"))
    with pytest.raises(UsageError, match="largest IPv4 UDP payload is 65507"):
        spec_for(sizes=parse_sizes("65508"))


def test_destinations_and_sources_must_be_loopback() -> None:
    with pytest.raises(UsageError, match="not a loopback address"):
        resolve_destination("192.0.2.1", 9)
    assert resolve_destination("::1", 9).family == socket.AF_INET6
    assert resolve_destination("127.1.2.3", 9).host == "127.1.2.3"


# -- order ----------------------------------------------------------------------------


def drain_order(order: SendOrder, step: int = 3) -> list[int]:
    out: list[int] = []
    while not order.exhausted:
        out.extend(order.take(step))
    return out


def test_reorder_delays_each_hit_and_counts_it_late() -> None:
    order = SendOrder(12, reorder=parse_pattern("reorder", "3:2"))
    assert drain_order(order) == [0, 1, 3, 4, 2, 6, 7, 5, 9, 10, 8, 11]
    assert (order.late, order.duplicated, order.sequences) == (3, 0, 12)


def test_duplicates_follow_their_original_and_are_counted() -> None:
    order = SendOrder(10, duplicate=parse_pattern("duplicate", "4:2"))
    assert drain_order(order) == [0, 1, 2, 3, 3, 3, 4, 5, 6, 7, 7, 7, 8, 9]
    assert (order.late, order.duplicated) == (0, 4)


def test_the_last_datagram_is_never_held_and_a_stop_flushes_the_held() -> None:
    order = SendOrder(4, reorder=parse_pattern("reorder", "2"))
    assert drain_order(order) == [0, 2, 1, 3]  # 3 is a hit but nothing follows it
    unbounded = SendOrder(None, reorder=parse_pattern("reorder", "2:5"))
    first = list(unbounded.take(3))  # 3 taken: 1 is held (paced now, sent later)
    assert first == [0, 2] and unbounded.paced == 3 and unbounded.held == 1
    assert unbounded.flush() == [1] and unbounded.late == 1


def test_with_several_sources_reorder_is_counted_within_each_source_stream() -> None:
    # 2 sources take turns: even indexes are one stream, odd the other. "1 late" means one
    # place late in its own stream: index 2 goes after 4 (its stream's next), not after 3.
    one_behind = SendOrder(8, reorder=parse_pattern("reorder", "3:1"), streams=2)
    assert drain_order(one_behind) == [0, 1, 3, 4, 2, 6, 7, 5] and one_behind.late == 2
    one_stream = SendOrder(6, reorder=parse_pattern("reorder", "3:1"), streams=1)
    assert drain_order(one_stream) == [0, 1, 3, 2, 4, 5] and one_stream.late == 1


def test_each_source_numbers_its_own_datagrams() -> None:
    plan = PayloadPlan("wskrecv", 0, parse_sizes("64"), sources=3)
    headers = [payload.parse_wskrecv(bytes(plan.fill(i, 0))) for i in range(7)]
    assert [h.sequence for h in headers] == [0, 0, 0, 1, 1, 1, 2]  # type: ignore[union-attr]
    assert payload.parse_wskrecv(plan.expected(5)).sequence == 1  # type: ignore[union-attr]


def test_bad_patterns_are_usage_errors() -> None:
    for text in ("x", "0", "1", "3:0", "3:x"):
        with pytest.raises(SpecError) as caught:
            parse_pattern("reorder", text)
        assert caught.value.field == "reorder" and caught.value.value == repr(text)
    assert parse_pattern("duplicate", "1").every == 1  # duplicating every datagram is fine


# -- pacing ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_pacer_releases_what_is_due_and_says_how_long_to_wait() -> None:
    clock = FakeClock()
    pacer = Pacer(1000, clock)
    assert pacer.due(0) == (1, 0.0)  # datagram 0 is due at once
    assert pacer.due(1) == (0, pytest.approx(0.001))
    clock.t += 0.0105  # a late wake-up: datagrams 1..10 are due now, in one batch
    assert pacer.due(1) == (10, 0.0)
    clock.t += 10  # far behind: catch up, but in bounded batches
    assert pacer.due(11) == (256, 0.0)
    assert Pacer(0, clock).due(10**9) == (256, 0.0)


def test_pacer_owes_what_was_due_before_the_end() -> None:
    clock = FakeClock()
    pacer = Pacer(50_000, clock)
    assert pacer.owed(249_990, pacer.t0 + 5.0) == 10  # i / rate < 5 s: i = 0 .. 249999
    assert pacer.owed(250_000, pacer.t0 + 5.0) == 0
    assert Pacer(0, clock).owed(0, clock.t + 1) == 0


class RecordingTransport:
    raw = False
    sources: list = [("127.0.0.1", 1)]

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, bytes]] = []

    def burst(self, seqs, fill, now_ns):  # type: ignore[no-untyped-def]
        n = b = 0
        for seq in seqs:
            data = bytes(fill(seq, now_ns()))
            self.sent.append((self.clock.t, data))
            n += 1
            b += len(data)
        return n, b

    def close(self) -> None:
        pass


def test_sender_paces_by_deadline_with_a_fake_clock() -> None:
    clock = FakeClock()
    transport = RecordingTransport(clock)
    spec = spec_for(count=500, rate=1000)
    report = Sender(spec, transport, clock=clock, sleep=clock.sleep, now_ns=lambda: 7).run()
    assert report.sent == 500 and report.bytes == 500 * 64
    seqs = [payload.parse_wskrecv(d).sequence for _, d in transport.sent]  # type: ignore[union-attr]
    assert seqs == list(range(500))
    # Datagram i never leaves before its deadline t0 + i / rate.
    t0 = transport.sent[0][0]
    assert all(t >= t0 + i / 1000 - 1e-9 for i, (t, _) in enumerate(transport.sent))
    assert report.duration_s == pytest.approx(0.499, abs=0.002)


def test_sender_duration_sends_exactly_what_was_due_before_the_end() -> None:
    clock = FakeClock()
    transport = RecordingTransport(clock)
    report = Sender(spec_for(duration=0.1, rate=1000), transport, clock=clock,
                    sleep=clock.sleep).run()
    # i / rate < 0.1 s for i = 0..99, whatever the wake-ups were.
    assert report.reason == "duration over" and report.sent == 100


def test_a_run_that_ends_early_flushes_held_datagrams() -> None:
    clock = FakeClock()
    transport = RecordingTransport(clock)
    spec = spec_for(duration=0.1, rate=1000, reorder=parse_pattern("reorder", "10:50"))
    report = Sender(spec, transport, clock=clock, sleep=clock.sleep).run()
    seqs = [payload.parse_wskrecv(d).sequence for _, d in transport.sent]  # type: ignore[union-attr]
    assert sorted(seqs) == list(range(report.sent))  # nothing held back is lost at the stop
    late = sum(1 for i, s in enumerate(seqs) if s < max(seqs[: i + 1]))
    # 100 due in 0.1 s, held ones included; the last hit (99) goes out last, not late.
    assert report.sent == 100 and report.reordered == late == 9


class TickingClock(FakeClock):
    """A clock that moves on a little at every reading, as a real one does between the
    sender's reads (the end-of-duration check, then the pacer's)."""

    def __call__(self) -> float:
        self.t += 37e-6
        return self.t


@pytest.mark.parametrize("patterns", [
    {}, {"reorder": "100"}, {"reorder": "10:3"}, {"reorder": "7:50", "duplicate": "5:1"},
    {"duplicate": "5:2"},
])
def test_rate_times_duration_is_what_is_sent_whatever_the_patterns(patterns: dict) -> None:
    """`send -r 10k -t 2 --reorder 100` sent 20,001 (a held datagram went out on top)."""
    clock = TickingClock()
    transport = RecordingTransport(clock)
    spec = spec_for(duration=0.2, rate=10_000,
                    **{k: parse_pattern(k, v) for k, v in patterns.items()})
    report = Sender(spec, transport, clock=clock, sleep=clock.sleep).run()
    assert report.reason == "duration over"
    # A duplicate's copies go together: the last one due may bring its extra copies along.
    extra = int(patterns["duplicate"].split(":")[1]) if "duplicate" in patterns else 0
    assert report.sent == len(transport.sent)
    assert 2000 <= report.sent <= 2000 + extra
    if "duplicate" not in patterns:
        assert report.sequences == 2000


def test_a_stop_request_ends_the_run_with_its_reason() -> None:
    clock = FakeClock()
    transport = RecordingTransport(clock)
    calls = iter([None, None, "interrupted"])
    report = Sender(spec_for(count=None), transport, clock=clock, sleep=clock.sleep).run(
        lambda: next(calls)
    )
    assert report.reason == "interrupted" and report.sent == 2 * 256


# -- crafted packets, parsed back by scapy ----------------------------------------------


def crafted(spec: SendSpec, sources: list[tuple[str, int]], seqs: range) -> list[list[bytes]]:
    plan = PayloadPlan(spec.seq_format, spec.stream, spec.sizes)
    crafter = PacketCrafter(spec, sources)
    return [crafter.packets(s, plan.fill(s, 1000 + s)) for s in seqs]


def checksum_ok(pkt) -> bool:  # type: ignore[no-untyped-def]
    udp = pkt[UDP]
    sent = udp.chksum
    del udp.chksum
    return type(pkt)(bytes(pkt))[UDP].chksum == sent


def test_udp_checksum_matches_scapy_for_odd_and_even_sizes() -> None:
    spec = spec_for(sizes=parse_sizes("36-101"), raw=True)
    for wire in crafted(spec, [("127.0.0.9", 4242)], range(200)):
        (pkt,) = wire
        assert checksum_ok(IP(pkt))
    assert udp_checksum(0, b"\xff\xff") == 0xFFFF  # never 0 ("no checksum")
    assert all(wrong_checksum(c) not in (0, c) for c in range(0x10000))


def test_ipv4_packets_carry_source_ttl_ports_and_the_payload() -> None:
    spec = spec_for(port=6000, stream=3, ttl=9, raw=True)
    (wire,) = crafted(spec, [("127.0.0.9", 4242)], range(5, 6))
    pkt = IP(wire[0])
    assert (pkt.src, pkt.dst, pkt.ttl, pkt.proto) == ("127.0.0.9", "127.0.0.1", 9, 17)
    assert (pkt[UDP].sport, pkt[UDP].dport, pkt[UDP].len) == (4242, 6000, 72)
    assert payload.parse_wskrecv(bytes(pkt[UDP].payload)) == payload.Header(3, 5, 1005, True)
    assert checksum_ok(pkt)


def test_ipv6_packets_and_hop_limit() -> None:
    spec = spec_for("::1", 6000, ttl=2, raw=True)
    (wire,) = crafted(spec, [("::1", 4243)], range(1))
    pkt = IPv6(wire[0])
    assert (pkt.src, pkt.dst, pkt.hlim, pkt.nh) == ("::1", "::1", 2, 17)
    assert payload.parse_wskrecv(bytes(pkt[UDP].payload)).sequence == 0  # type: ignore[union-attr]
    assert checksum_ok(pkt)


def test_bad_checksum_packets_fail_scapys_check() -> None:
    spec = spec_for(bad_checksum=True)
    for wire in crafted(spec, [("127.0.0.1", 4242)], range(20)):
        assert not checksum_ok(IP(wire[0]))
        assert IP(wire[0])[UDP].chksum != 0


def test_ipv4_fragments_reassemble_and_each_datagram_has_its_own_id() -> None:
    spec = spec_for(sizes=parse_sizes("3000"), fragment=1000)
    out = crafted(spec, [("127.0.0.1", 4242)], range(2))
    ids = []
    for seq, wire in enumerate(out):
        frags = [IP(p) for p in wire]
        assert len(frags) == 4 and [f.frag * 8 for f in frags] == [0, 1000, 2000, 3000]
        assert [f.flags.MF for f in frags] == [1, 1, 1, 0]
        assert len({f.id for f in frags}) == 1
        ids.append(frags[0].id)
        (whole,) = defragment(frags)
        assert payload.parse_wskrecv(bytes(whole[UDP].payload)) == payload.Header(0, seq, 1000 + seq, True)
        assert checksum_ok(IP(bytes(whole)))
    assert ids[0] != ids[1]


def test_ipv6_fragments_reassemble() -> None:
    spec = spec_for("::1", sizes=parse_sizes("3000"), fragment=1000)
    (wire,) = crafted(spec, [("::1", 4242)], range(1))
    frags = [IPv6(p) for p in wire]
    assert [f[IPv6ExtHdrFragment].offset * 8 for f in frags] == [0, 1000, 2000, 3000]
    assert len({f[IPv6ExtHdrFragment].id for f in frags}) == 1
    whole = defragment6(frags)
    assert payload.parse_wskrecv(bytes(whole[UDP].payload)) == payload.Header(0, 0, 1000, True)


def test_small_datagrams_are_not_fragmented() -> None:
    spec = spec_for(sizes=parse_sizes("64"), fragment=72)
    assert [len(w) for w in crafted(spec, [("127.0.0.1", 1)], range(3))] == [1, 1, 1]
