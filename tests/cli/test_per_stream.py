"""Per-stream figures through the installed receivers on loopback: several senders, each
with streams whose losses, swaps and duplicates are planned, and the summary's `streams`
array, the --per-stream interval objects and the human table say exactly that (one
process, and --workers merged)."""

from __future__ import annotations

import json
import socket
import time
from typing import Optional

import pytest

from tests.conftest import Wskrecv, free_udp_port, read_line
from wskrecv import payload

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")

# Per stream id: the sequences sent (gaps: lost; a pair swapped: reordered; a repeat:
# duplicate) and what they make.
PLANS = {
    0: ([0, 1, 2, 4, 3, 5, 6, 7], {"lost": 0, "reordered": 1, "duplicates": 0, "expected": 8}),
    1: ([0, 1, 3, 4, 4, 5, 9], {"lost": 4, "reordered": 0, "duplicates": 1, "expected": 10}),
    2: ([5, 6, 7, 8, 9, 10, 12, 11, 11], {"lost": 0, "reordered": 1, "duplicates": 1, "expected": 8}),
}


def send_plans(rx: Wskrecv, senders: list[socket.socket], seen: Optional[list[dict]] = None
               ) -> dict[tuple[int, int], dict]:
    """Each sender sends every planned stream (its datagrams one stream after another);
    returns the figures each (source port, stream id) must get. `seen`: after the first
    sender, read JSON lines into it until an interval has counted that sender's datagrams
    (so that the run spans intervals)."""
    want = {}
    for i, s in enumerate(senders):
        if i == 1 and seen is not None:
            first = sum(len(seqs) for seqs, _ in PLANS.values())
            while not any(o["type"] == "interval" and o["received"] == first for o in seen):
                seen.append(json.loads(read_line(rx.proc.stdout, 20)))
        for stream, (seqs, figures) in PLANS.items():
            rx.send([bytes(payload.build(stream, q, time.time_ns(), b"per-stream"))
                     for q in seqs], source=s)
            want[(s.getsockname()[1], stream)] = dict(figures, received=len(seqs))
    return want


def senders(n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    return socks


def figures(row: dict) -> dict:
    return {k: row[k] for k in ("lost", "reordered", "duplicates", "expected", "received")}


@pytest.mark.parametrize("command", [["listen"], ["event"], ["event", "--workers", "2"]],
                         ids=["listen", "event", "event-workers"])
def test_every_stream_gets_what_its_sender_planned(command: list[str]) -> None:
    socks = senders(3)
    first_port = socks[0].getsockname()[1]
    total = 3 * sum(len(seqs) for seqs, _ in PLANS.values())
    try:
        with Wskrecv(*command, "--count", str(total), "--timeout", "20", "--per-stream",
                     "-i", "0.05") as rx:
            objs: list[dict] = []
            want = send_plans(rx, socks, objs)
            status, rest, err = rx.finish()
            objs += rest
    finally:
        for s in socks:
            s.close()
    assert status == 0, err
    (summary,) = [o for o in objs if o["type"] == "summary"]
    got = {(r["port"], r["stream"]): figures(r) for r in summary["streams"]}
    assert got == want
    assert summary["streams_tracked"] == 9 and summary["streams_retired"] is None
    # wskrecv's header carries the send time: each stream has its one-way latency.
    assert all(set(r["latency_ms"]) == {"p50", "p90", "p99", "max"} for r in summary["streams"])
    assert sum(r["lost"] for r in summary["streams"]) == summary["lost"] == 12
    # With --per-stream every interval object lists the streams and their share of it.
    intervals = [o for o in objs if o["type"] == "interval"]
    assert intervals and all("streams" in o for o in intervals)
    # The first sender's streams, counted in the first intervals, and nothing since.
    first = next(o for o in intervals if o["received"] == 8 + 7 + 9)
    assert {(r["port"], r["stream"]): figures(r) for r in first["streams"]} == {
        k: v for k, v in want.items() if k[0] == first_port}
    shares: dict = {}
    for o in intervals:
        for r in o["streams"]:
            key = (r["port"], r["stream"])
            shares[key] = shares.get(key, 0) + r["interval_datagrams"]
    assert all(n <= want[key]["received"] for key, n in shares.items())


def test_the_human_summary_lists_the_streams_worst_first_and_per_stream_lines() -> None:
    socks = senders(2)
    ports = {str(s.getsockname()[1]) for s in socks}
    total = 2 * sum(len(seqs) for seqs, _ in PLANS.values())
    try:
        with Wskrecv("event", "--count", str(total), "--timeout", "20", "--per-stream",
                     "-i", "0.05", json_mode=False, port=free_udp_port(),
                     expect_start=False) as rx:
            send_plans(rx, socks[:1])
            # --per-stream: after interval lines, one line per stream.
            early = [read_line(rx.proc.stderr, 20)]
            while not early[-1].startswith("  127.0.0.1:"):
                early.append(read_line(rx.proc.stderr, 20))
            assert " dg  lost " in early[-1]
            send_plans(rx, socks[1:])
            status, _, err = rx.finish()
    finally:
        for s in socks:
            s.close()
    assert status == 0, err
    lines = err.splitlines()
    title = lines.index("streams      6 streams, worst first by loss:")
    head, *rows = lines[title + 1:title + 8]
    assert head.split() == ["source", "#stream", "received", "lost", "loss", "reord", "dup",
                            "late", "jitter", "owd", "p50/p99", "ms"]
    # Stream 1 of each sender lost 4 of 10: they come first.
    assert [r.split()[1] for r in rows[:2]] == ["#1", "#1"] and rows[0].split()[3] == "4"
    assert {r.split()[0].rsplit(":", 1)[1] for r in rows} == ports
