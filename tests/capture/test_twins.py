"""The compiled batch scanner (csrc/capture.c) against its pure-Python twin
(wskrecv/capture/scan.py): on any bytes, captures built from random frames and then
damaged at random, read in random chunk sizes, both give the same datagrams, the same
tally of skipped frames and the same problem. Also under ASan (tests/test_sanitizers.py
runs this module)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, UDP, fragment
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from tests.capture import builders as b
from wskrecv import core as cores
from wskrecv.capture import CaptureError, CaptureReader
from wskrecv.capture.scan import scan as pure_scan

NATIVE = cores.native()
pytestmark = [pytest.mark.skipif(NATIVE is None, reason="the native core is not built here"),
              pytest.mark.usefixtures("native_core")]

_IP4 = IP(src="10.1.2.3", dst="10.3.2.1")
_IP6 = IPv6(src="fd00::7", dst="fd00::8")
PACKETS = [
    bytes(_IP4 / UDP(sport=1, dport=5000) / b"hello"),
    bytes(_IP6 / UDP(sport=2, dport=5000) / (b"x" * 40)),
    bytes(_IP4 / UDP(sport=3, dport=6000) / b"other port"),
    bytes(_IP4 / ICMP()),
    *[bytes(f) for f in fragment(_IP4 / UDP(sport=4, dport=5000) / (b"f" * 90), fragsize=32)],
    b"\x45\x00\x00",  # cut inside the IP header
]
ETHERNET_ONLY = [bytes(Ether() / ARP())]


@st.composite
def captures(draw: Any) -> bytes:
    ether = draw(st.booleans())
    picks = draw(st.lists(st.sampled_from(PACKETS + (ETHERNET_ONLY if ether else [])), max_size=30))
    frames = [bytes(Ether() / p) if ether and p not in ETHERNET_ONLY else p for p in picks]
    frames += draw(st.lists(st.binary(max_size=80), max_size=4))
    times = draw(st.lists(st.integers(0, 1 << 40), min_size=len(frames), max_size=len(frames)))
    big = draw(st.booleans())
    linktype = 1 if ether else 101
    if draw(st.booleans()):
        data = b.pcap(list(zip(times, frames)), linktype, big=big, nano=draw(st.booleans()))
    else:
        resol = draw(st.sampled_from([None, 9, 3, 0x80 | 20]))
        data = b.shb(big) + b.idb(linktype, big, tsresol=resol, tsoffset=draw(st.sampled_from([None, 7])))
        data += b"".join(b.epb(0, t, f, big) for t, f in zip(times, frames))
    # Damage: overwrite a few bytes, then maybe cut the file.
    raw = bytearray(data)
    for pos, value in draw(st.lists(st.tuples(st.integers(0, max(0, len(raw) - 1)), st.integers(0, 255)),
                                    max_size=3)):
        if raw:
            raw[pos] = value
    return bytes(raw[:draw(st.integers(0, len(raw)))]) if draw(st.booleans()) else bytes(raw)


def outcome(data: bytes, scanner: Any, port: int, chunk: int) -> tuple:
    try:
        reader = CaptureReader(io.BytesIO(data), "f", port, scanner, chunk=chunk)
        got = list(reader.datagrams(batch=7))
    except CaptureError as exc:
        return ("error", str(exc))
    return got, reader.skipped(), reader.frames, reader.problem, reader.cut_bytes, reader.drops


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=captures(), port=st.sampled_from([0, 5000]), chunk=st.sampled_from([3, 50, 1 << 16]))
def test_the_native_scanner_reads_what_the_pure_one_reads(data: bytes, port: int, chunk: int) -> None:
    assert NATIVE is not None
    assert outcome(data, NATIVE.scan, port, chunk) == outcome(data, pure_scan, port, 1 << 16)
