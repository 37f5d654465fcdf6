"""wskrecv's statistics as the iperf3 server reads them, from iperf3-format payloads."""

from __future__ import annotations

import struct
import threading

import pytest

from wskrecv.iperf3.counting import RecorderCounting
from wskrecv.stats import Recorder

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")

V4 = ("127.0.0.1", 40001)
V6 = ("::1", 40002, 0, 0)


def payload(seq: int, counters64: bool = False, size: int = 64) -> bytes:
    head = struct.pack("!IIQ" if counters64 else "!III", 1000, 5, seq)
    return head + bytes(size - len(head))


def counting(fmt: str = "iperf3") -> RecorderCounting:
    c = RecorderCounting(Recorder("event", seq_format="auto", lock=threading.RLock()))
    c.use_seq_format(fmt)
    return c


def test_loss_before_the_first_datagram_counts_as_iperf3s_own_server_does() -> None:
    c = counting()
    c.expect_stream(V4, 1)
    for seq in (3, 4, 6, 5):  # 1 and 2 lost, 5 out of order
        c.recorder.record(payload(seq), V4, None, False)
    f = c.figures(V4)
    assert (f.packets, f.lost, f.reordered, f.datagrams, f.bytes) == (6, 2, 1, 4, 256)


@pytest.mark.parametrize("key", [V6, V6[:2]], ids=["4-tuple", "2-tuple"])
def test_ipv6_senders_match_with_or_without_flow_and_scope(key: tuple) -> None:
    # The event receiver keys senders by the full address tuple, the IRP one by address
    # and port: the connect datagram's address matches either.
    c = counting()
    c.expect_stream(V6, 1)
    c.recorder.record(payload(2), key, None, False)
    assert c.figures(V6)[:2] == (2, 1)
    assert c.recorder.streams.seen == 1


def test_64_bit_counters() -> None:
    c = counting("iperf3-64")
    c.expect_stream(V4, 1)
    for seq in (1, 2, 1 << 33):
        c.recorder.record(payload(seq, counters64=True), V4, None, False)
    assert c.figures(V4).packets == 1 << 33


def test_a_stream_that_never_arrived_is_zero() -> None:
    c = counting()
    c.expect_stream(V4, 1)
    assert c.figures(V4) == (0, 0, 0, 0, None, 0, 0)
