"""Payload header round trips and rejections (no network)."""

from __future__ import annotations

from wskrecv import payload


def test_wskrecv_header_round_trip_and_patch() -> None:
    d = payload.build(7, 41, 1_700_000_000_123_456_789, b"body" * 7)
    assert len(d) == payload.HEADER_LEN + 28
    assert payload.parse_wskrecv(bytes(d)) == payload.Header(7, 41, 1_700_000_000_123_456_789, True)
    payload.patch(d, 42, 5)
    assert payload.parse_wskrecv(bytes(d)) == payload.Header(7, 42, 5, True)


def test_wskrecv_corrupt_body_is_recognised_but_invalid() -> None:
    d = payload.build(1, 2, 3, b"abcdef")
    d[-1] ^= 0xFF
    h = payload.parse_wskrecv(bytes(d))
    assert h is not None and h.valid is False


def test_wskrecv_rejects_short_foreign_and_lying_lengths() -> None:
    d = payload.build(1, 2, 3, b"abcdef")
    assert payload.parse_wskrecv(b"") is None
    assert payload.parse_wskrecv(bytes(d[:-1])) is None  # truncated: lengths disagree
    assert payload.parse_wskrecv(b"X" + bytes(d[1:])) is None
    assert payload.parse_wskrecv(bytes(d) + b"!") is None


def test_sockperf_and_iperf3_layouts() -> None:
    sp = payload.build_sockperf(2**64 - 1, 64)
    assert payload.parse_sockperf(bytes(sp)) == payload.Header(0, 2**64 - 1, None)
    assert payload.parse_sockperf(bytes(sp[:20])) is None
    ip = payload.IPERF3.pack(10, 500_000, 99) + b"\0" * 20
    assert payload.parse_iperf3(ip) == payload.Header(0, 99, 10_500_000_000)
    ip64 = payload.IPERF3_64.pack(1, 2, 2**40) + b"\0" * 20
    assert payload.parse_iperf3_64(ip64) == payload.Header(0, 2**40, 1_000_002_000)
    assert payload.parse_iperf3(payload.IPERF3.pack(1, 2_000_000, 3)) is None
