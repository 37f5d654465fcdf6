"""Receive rate of `wskrecv listen` draining a pre-filled socket queue (loopback only).

Starts the installed `wskrecv listen --json` with the given extra options, stops it
(SIGSTOP) right after its start line, fills its socket queue with N wskrecv-format
datagrams, resumes it (SIGCONT) and computes the drain rate from its interval lines
(the first interval, which spans the stopped time, and the last, partial one are left out).
It also reports the receiver's own CPU time per datagram from the resume to the interval
line that reports the last datagram (from /proc/PID/stat, so a display process's CPU is
not counted), which other load on the machine disturbs far less than the wall-clock rate:
compare `cpu rate` (1 / CPU time per datagram) between variants.
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


def _cpu_s(pid: int) -> float:
    """utime + stime of a live process (not its children), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(n: int, size: int, extra: list[str]) -> tuple[float, float, dict]:
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
    cpu_before = _cpu_s(proc.pid)
    proc.send_signal(signal.SIGCONT)
    lines = []
    cpu = 0.0
    for line in proc.stdout:
        lines.append(line)
        if not cpu and f'"received":{n},' in line:
            cpu = _cpu_s(proc.pid) - cpu_before  # drained: before the summary and exit
    proc.wait()
    out = "".join(lines)
    objs = [json.loads(line) for line in out.splitlines() if line.strip()]
    intervals = [o for o in objs if o["type"] == "interval" and o["datagrams"] > 0]
    summary = objs[-1]
    mid = intervals[1:-1]
    if not mid:
        raise SystemExit("too few intervals: use a larger -n")
    rate = sum(o["datagrams"] for o in mid) / sum(o["interval_s"] for o in mid)
    return rate, n / cpu, summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("-r", "--repeat", type=int, default=3)
    ap.add_argument("-s", "--size", type=int, default=64)
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    rates = []
    cpu_rates = []
    for _ in range(a.repeat):
        rate, cpu_rate, summary = one_run(a.n, a.size, a.extra)
        cpu_rates.append(cpu_rate)
        if summary["received"] != a.n or summary["kernel_drops"]:
            print(f"warning: received {summary['received']}, kernel drops {summary['kernel_drops']}",
                  file=sys.stderr)
        rates.append(rate)
    print(f"{' '.join(a.extra) or '(defaults)'}: wall median {statistics.median(rates):,.0f} dg/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}); cpu rate median "
          f"{statistics.median(cpu_rates):,.0f} dg/s ({', '.join(f'{r:,.0f}' for r in cpu_rates)})")


if __name__ == "__main__":
    main()
