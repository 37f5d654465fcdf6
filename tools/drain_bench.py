"""Drain rate of a pre-filled UDP socket: wskrecv's receive commands against a bare Python
recvfrom_into loop, measured in the same run so the ratios hold on a busy machine.

    python tools/drain_bench.py [--n 200000] [--size 64] [--rounds 3]

Each case fills a fresh loopback socket with N datagrams (nothing reads while it fills),
then drains it. The wskrecv cases run the real click command in-process, with the
command's `open_udp` handing back the pre-filled socket; their time is the run's own
`duration_s` (start to summary). Needs root for the large SO_RCVBUFFORCE buffer.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import socket
import statistics
import sys
import time
from typing import Callable

from wskrecv.commands import common
from wskrecv.commands.event import event
from wskrecv.commands.listen import listen
from wskrecv.provider import open_udp

RCVBUF = 1 << 30


def fill(port: int, n: int, size: int) -> None:
    payload = b"\0" * size
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(n):
            s.sendto(payload, ("127.0.0.1", port))


def bare(n: int, size: int) -> float:
    """The reference: a bare recvfrom_into loop on a blocking socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as r:
        r.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)  # SO_RCVBUFFORCE
        r.bind(("127.0.0.1", 0))
        fill(r.getsockname()[1], n, size)
        buf = bytearray(65535)
        recv = r.recvfrom_into
        t0 = time.perf_counter()
        for _ in range(n):
            recv(buf)
        return n / (time.perf_counter() - t0)


def command(cmd: Callable, args: list[str], n: int, size: int, mmsg: bool = True) -> float:
    """A receive command run in-process on a pre-filled socket; rate from its summary."""
    provider_holder: list = []

    def prefilled(host: str, port: int, rcvbuf: object = None, **kw: object):  # type: ignore[no-untyped-def]
        p = open_udp("127.0.0.1", 0, RCVBUF, use_mmsg=mmsg, **kw)  # type: ignore[arg-type]
        fill(p.local_address[1], n, size)
        drops = p.kernel_drops
        assert drops == 0, f"the fill overflowed the socket ({drops} drops)"
        provider_holder.append(p)
        return p

    out = io.StringIO()
    real = common.open_udp
    common.open_udp = prefilled
    try:
        with contextlib.redirect_stdout(out):
            cmd.main([*args, "--count", str(n), "--json", "-q", "--interval", "60"],
                     standalone_mode=False)
    finally:
        common.open_udp = real
    summary = json.loads(out.getvalue().splitlines()[-1])
    assert summary["received"] == n, summary
    return n / summary["duration_s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (SO_RCVBUFFORCE for a buffer that holds every datagram)")
    cases: dict[str, Callable[[], float]] = {
        "bare recvfrom_into loop": lambda: bare(a.n, a.size),
        "event": lambda: command(event, [], a.n, a.size),
        "event (recvmsg loop)": lambda: command(event, [], a.n, a.size, mmsg=False),
        "event --pend": lambda: command(event, ["--pend"], a.n, a.size),
        "listen --outstanding 64": lambda: command(listen, ["-n", "64"], a.n, a.size),
        "listen --outstanding 64 (recvmsg loop)":
            lambda: command(listen, ["-n", "64"], a.n, a.size, mmsg=False),
        "listen --outstanding 1": lambda: command(listen, [], a.n, a.size),
    }
    rates: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(a.rounds):  # interleaved, so a busy neighbour hits every case alike
        for name, run in cases.items():
            rates[name].append(run())
    ref = statistics.median(rates["bare recvfrom_into loop"])
    print(f"{a.n} datagrams of {a.size} bytes, median of {a.rounds} rounds")
    for name, rs in rates.items():
        med = statistics.median(rs)
        print(f"{name:42s} {med / 1000:8.1f} k/s  {med / ref:5.2f}x")


if __name__ == "__main__":
    main()
