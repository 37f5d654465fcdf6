"""Receive rate of `wskrecv listen` draining a pre-filled socket queue (loopback only).

Starts the installed `wskrecv listen --json` with the given extra options, stops it
(SIGSTOP) right after its start line, fills its socket queue with N wskrecv-format
datagrams, resumes it (SIGCONT) and computes the drain rate from its interval lines
(the first interval, which spans the stopped time, and the last, partial one are left out).
stderr is inherited, so run this inside tmux to measure with the live dashboard on.

    python tools/bench_drain.py [-n 100000] [-r 3] -- [wskrecv listen options]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from wskrecv import payload  # noqa: E402


def one_run(n: int, size: int, extra: list[str]) -> tuple[float, dict]:
    exe = shutil.which("wskrecv")
    assert exe, "wskrecv is not on PATH"
    argv = [exe, "listen", "--bind", "127.0.0.1", "--port", "0", "--json", "--interval", "0.05",
            "--count", str(n), *extra]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    start = json.loads(proc.stdout.readline())
    proc.send_signal(signal.SIGSTOP)
    dgram = payload.build(1, 0, 0, bytes(max(0, size - payload.HEADER_LEN)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", start["port"]))
        for seq in range(n):
            payload.patch(dgram, seq, time.time_ns())
            s.send(dgram)
    proc.send_signal(signal.SIGCONT)
    out, _ = proc.communicate(timeout=120)
    objs = [json.loads(line) for line in out.splitlines() if line.strip()]
    intervals = [o for o in objs if o["type"] == "interval" and o["datagrams"] > 0]
    summary = objs[-1]
    mid = intervals[1:-1]
    if not mid:
        raise SystemExit("too few intervals: use a larger -n")
    rate = sum(o["datagrams"] for o in mid) / sum(o["interval_s"] for o in mid)
    return rate, summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("-r", "--repeat", type=int, default=3)
    ap.add_argument("-s", "--size", type=int, default=64)
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    rates = []
    for _ in range(a.repeat):
        rate, summary = one_run(a.n, a.size, a.extra)
        if summary["received"] != a.n or summary["kernel_drops"]:
            print(f"warning: received {summary['received']}, kernel drops {summary['kernel_drops']}",
                  file=sys.stderr)
        rates.append(rate)
    print(f"{' '.join(a.extra) or '(defaults)'}: median {statistics.median(rates):,.0f} dg/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})")


if __name__ == "__main__":
    main()
