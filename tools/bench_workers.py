"""Drain of pre-filled queues by `--workers 2` against `--workers 1`, in one run.

A benchmark, not a test. Each measurement binds N UDP sockets to one loopback port with
SO_REUSEPORT, fills their queues with COUNT datagrams sent from SOURCES source ports (the
kernel's hash spreads the flows over the sockets), then runs the installed
`wskrecv MODE --workers N --count COUNT` on those very sockets (passed by socket
activation, LISTEN_FDS=N) and takes the run's duration from its JSON summary: the time to
drain every queue, worker start-up included. Rounds alternate N, so both see the same
machine load; the report gives medians and the ratio.

    python tools/bench_workers.py [--count 100000] [--rounds 3] [--mode event] [--mode listen]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys

SO_RCVBUFFORCE = 33
SO_MEMINFO = 55
SIZE = 64
SOURCES = 16

# Runs in the child before wskrecv: the passed sockets become descriptors 3.. and the
# activation variables name the process (exec keeps the pid).
SHIM = """
import os, sys
fds = [int(x) for x in sys.argv[1].split(",")]
import fcntl
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]  # above 3.., then down
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i, inheritable=True)
os.environ["LISTEN_FDS"] = str(len(fds))
os.environ["LISTEN_PID"] = str(os.getpid())
os.execvp(sys.argv[2], sys.argv[2:])
"""


def queued(sock: socket.socket) -> int:
    """Bytes of the socket's receive queue (SO_MEMINFO rmem_alloc)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 36)
    return int.from_bytes(raw[:4], sys.byteorder)


def fill(n_sockets: int, count: int) -> list[socket.socket]:
    socks: list[socket.socket] = []
    port = 0
    for _ in range(n_sockets):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 1 << 30)
        except PermissionError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 30)
        s.bind(("127.0.0.1", port))
        port = s.getsockname()[1]
        socks.append(s)
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SOURCES)]
    data = b"x" * SIZE
    for i in range(count):
        senders[i % SOURCES].sendto(data, ("127.0.0.1", port))
    for s in senders:
        s.close()
    return socks


def drain(mode: list[str], n: int, count: int) -> dict:
    socks = fill(n, count)
    try:
        fds = ",".join(str(s.fileno()) for s in socks)
        argv = [sys.executable, "-c", SHIM, fds, shutil.which("wskrecv") or "wskrecv", *mode,
                "--workers", str(n), "--count", str(count), "--timeout", "60", "--json", "-q"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                           pass_fds=[s.fileno() for s in socks])
    finally:
        for s in socks:
            s.close()
    if not r.stdout.strip():
        raise SystemExit(f"wskrecv failed: {r.stderr}")
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    if summary["received"] != count:
        raise SystemExit(f"only {summary['received']} of {count} datagrams were queued "
                         f"(kernel drops {summary['kernel_drops']}): lower --count")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mode", action="append", choices=["event", "listen"], default=None)
    args = ap.parse_args()
    modes = {"event": ["event"], "listen": ["listen", "-n", "64"]}
    chosen = args.mode or ["event", "listen"]
    print(f"{args.count} x {SIZE}-byte datagrams from {SOURCES} source ports, pre-filled; "
          f"{args.rounds} rounds; {os.cpu_count()} CPUs")
    for name in chosen:
        rates: dict[int, list[float]] = {1: [], 2: []}
        shares: list[list[int]] = []
        for _ in range(args.rounds):
            for n in (1, 2):
                s = drain(modes[name], n, args.count)
                rates[n].append(args.count / s["duration_s"])
                if n == 2:
                    shares.append([w["received"] for w in s["workers"]])
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        label = " ".join(modes[name])
        print(f"{label:<14} 1 worker {one / 1e3:8.1f} k dg/s   2 workers {two / 1e3:8.1f} k dg/s"
              f"   ratio {two / one:.2f}x   (2-worker split {shares})")


if __name__ == "__main__":
    main()
