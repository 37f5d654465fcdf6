"""Hostile traffic over loopback into the receivers (in this process): random bytes, empty
datagrams, lying headers, extreme sequences, a new stream id in every datagram, and (as
root) a flood from thousands of spoofed 127.0.0.0/8 sources. Nothing crashes, every
datagram is counted exactly once, the tables stay bounded with their evictions counted."""

from __future__ import annotations

import json
import os
import random
import socket
import struct

import pytest

from tests.harness import Result, receive, send_to
from wskrecv import payload

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = [pytest.mark.network, pytest.mark.usefixtures("receive_core")]
U64 = (1 << 64) - 1
RECEIVERS = [("listen", ()), ("listen", ("-n", "16")), ("event", ()), ("event", ("--pend",))]


def hostile_mix() -> tuple[list[bytes], int]:
    """(datagrams, how many carry a wskrecv header) for --seq-format auto."""
    rng = random.Random(8)
    out: list[bytes] = [b"", b"\0", b"WSKR", b"WSKR\x01" + b"\0" * 31]
    for _ in range(50):
        d = rng.randbytes(rng.randrange(0, 1500))
        out.append(b"x" + d if d[:4] == b"WSKR" else d)
    lying = payload.build(1, 5, 0, b"body")
    struct.pack_into("!I", lying, 28, 5)  # body_len 5, body 4 bytes
    short = payload.build(1, 6, 0, b"body")[:-1]  # truncated: header says 4, 3 arrive
    big_header = payload.build(1, 7, 0, b"body")
    struct.pack_into("!H", big_header, 6, 200)  # header_len past the end
    out += [bytes(lying), bytes(short), bytes(big_header)]
    out += [bytes(payload.build_sockperf(3, 64))[:10], struct.pack("!QHI", 1, 0, 9999)]
    out += [struct.pack("!III", 1, 2_000_000, 1), b"\0" * 11]  # iperf3: bad usec, short
    unsequenced = len(out)
    # extreme and jumping sequences, and a new stream id in every datagram
    for seq in (0, U64, 1, 1 << 63, U64 - 1, 2, 0):
        out.append(bytes(payload.build(2, seq, 0, b"s")))
    for stream in range(300):
        out.append(bytes(payload.build(stream + 100, stream, 0, b"id")))
    corrupt = payload.build(3, 0, 0, b"checksummed")
    corrupt[-1] ^= 1
    out.append(bytes(corrupt))
    return out, len(out) - unsequenced


@pytest.mark.parametrize(("command", "args"), RECEIVERS)
def test_hostile_payloads_are_each_counted_once(command: str, args: tuple[str, ...]) -> None:
    datagrams, sequenced = hostile_mix()
    r = receive(command, *args, "--count", str(len(datagrams)), "--timeout", "20",
                send=datagrams)
    assert r.status == 0, r.stderr
    assert "Traceback" not in r.stderr
    s = r.objs[-1]
    assert s["type"] == "summary" and s["received"] == len(datagrams)
    assert s["bytes"] == sum(map(len, datagrams))
    assert s["unsequenced"] == len(datagrams) - sequenced and s["corrupt"] == 1
    assert s["violations"] == 0 and s["kernel_drops"] == 0
    assert s["streams_seen"] == 1 + 300 + 1 and s["streams_tracked"] + s["streams_evicted"] == 302
    # stream 2 saw 0, U64, 1, 2^63, U64-1, 2, 0: U64-1 fills a gap just behind the highest
    # (reordered), the rest are far behind it (late); all between 0 and U64 is lost
    assert (s["reordered"], s["duplicates"], s["late"]) == (1, 0, 4)
    assert s["lost"] == U64 - 2


def _spoofed_packets(port: int, n: int) -> list[bytes]:
    """n wskrecv datagrams from n distinct spoofed loopback sources, built with scapy."""
    from scapy.layers.inet import IP, UDP

    body = bytes(payload.build(4, 0, 0, b"spoof"))
    template = bytearray(bytes(IP(src="127.1.0.1", dst="127.0.0.1") /
                               UDP(sport=1024, dport=port, chksum=0) / body))
    out = []
    for k in range(n):
        pkt = bytearray(template)
        pkt[12:16] = socket.inet_aton(f"127.{1 + (k >> 16)}.{k >> 8 & 255}.{k & 255}")
        struct.pack_into("!H", pkt, 20, 1024 + k % 50000)
        # IPv4 header checksum: the kernel fills it in for IPPROTO_RAW sockets
        out.append(bytes(pkt))
    return out


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="spoofing sources needs raw sockets (root)")
@pytest.mark.parametrize(("command", "args"), [("listen", ("-n", "16")), ("event", ())])
def test_flood_from_thousands_of_spoofed_sources_stays_bounded(
    command: str, args: tuple[str, ...]
) -> None:
    n = 3000

    def spoof(r: Result) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
            for pkt in _spoofed_packets(r.address[1], n):  # type: ignore[index]
                raw.sendto(pkt, ("127.0.0.1", 0))
        send_to(r.address, [bytes(payload.build(0, i, 0, b"busy")) for i in range(10)])  # type: ignore[arg-type]

    r = receive(command, *args, "--count", str(n + 10), "--timeout", "30", then=spoof)
    assert r.status == 0, r.stderr
    s = r.objs[-1]
    assert s["received"] == n + 10 and s["kernel_drops"] == 0
    assert s["sources_seen"] == n + 1 and 0 < s["sources_evicted"] <= n
    assert s["sources_seen"] - s["sources_evicted"] <= 1024
    assert s["streams_seen"] == n + 1 and s["streams_evicted"] > 0 and s["streams_tracked"] <= 1024
    assert s["lost"] == s["reordered"] == s["duplicates"] == s["late"] == 0
    assert s["unsequenced"] == 0 and s["violations"] == 0


@pytest.mark.parametrize(("command", "args"), [("listen", ()), ("event", ())])
def test_a_sender_restarted_on_the_same_port_is_a_restart(command: str, args: tuple[str, ...]) -> None:
    """`wskrecv send --sport P` twice: the second run counts from 0 again on the same
    stream. Not 100 late datagrams: one restart, nothing lost."""
    first = [bytes(payload.build(5, s, 0, b"r")) for s in range(20_000)]
    second = [bytes(payload.build(5, s, 0, b"r")) for s in range(100)]
    # In slices the receiver has taken (an interval line says so), so that no queue
    # (unprivileged: small) overflows.
    batches = [first[i:i + 250] for i in range(0, len(first), 250)] + [second]
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as src:
        src.bind(("127.0.0.1", 0))

        def next_batch(r: Result, line: str = "") -> None:
            nonlocal sent
            if batches and (not line or json.loads(line)["received"] >= sent):
                sent += send_to(r.address, batches.pop(0), src)  # type: ignore[arg-type]

        r = receive(command, *args, "--count", "20100", "--timeout", "30", "-i", "0.01",
                    then=next_batch, each_line=next_batch)
    assert r.status == 0, r.stderr
    s = r.objs[-1]
    assert s["received"] == 20_100 and s["kernel_drops"] == 0
    assert (s["restarts"], s["late"], s["lost"], s["duplicates"], s["reordered"]) == (1, 0, 0, 0, 0)
