"""Speed and memory of `wskrecv analyze`: datagrams per second of capture, and peak RSS
for captures of two sizes (memory must not grow with the file).

Writes captures of N and 4 x N 64-byte wskrecv datagrams (raw IP pcap, as `--pcap`
writes them, from 16 senders) into a temporary directory, then runs the installed
`wskrecv analyze -q --json` on each, with each receive core, and reports the child's CPU
time (user + system, from wait4: repeatable under load, unlike wall time), datagrams
per CPU second and its peak resident set size.

    python tools/bench_analyze.py [-n 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from wskrecv import payload  # noqa: E402
from wskrecv.output.pcap import PcapWriter  # noqa: E402

T0 = 1_700_000_000_000_000_000


def write_capture(path: str, n: int) -> None:
    """n datagrams, 1 microsecond apart, round robin over 16 senders (each its stream)."""
    datagram = payload.build(0, 0, 0, b"b" * 28)  # 64 bytes
    with open(path, "wb", buffering=0) as f:
        writer = PcapWriter(f, close_stream=False)
        for i in range(n):
            payload.patch(datagram, i // 16, T0 + i * 1000)
            writer.write(bytes(datagram), ("127.0.0.1", 40000 + i % 16), ("127.0.0.1", 5000),
                         T0 + i * 1000 + 20_000)
        writer.close()


def measure(path: str, pure: bool) -> tuple[float, int, dict]:
    """(CPU seconds, peak RSS in KiB, the summary) of one `wskrecv analyze` run."""
    wskrecv = shutil.which("wskrecv")
    assert wskrecv, "install wskrecv first (pip install -e .)"
    env = dict(os.environ)
    env.pop("WSKRECV_NO_EXTENSIONS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed wskrecv starts from its bytecode
    if pure:
        env["WSKRECV_NO_EXTENSIONS"] = "1"
    proc = subprocess.Popen([wskrecv, "analyze", "-q", "--json", path], stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read()  # type: ignore[union-attr]
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()  # type: ignore[union-attr]
    assert proc.returncode == 0, out
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss, json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="datagrams in the smaller capture")
    parser.add_argument("--keep", help="write the captures here and keep them")
    parser.add_argument("--pure", action="store_true", help="also measure the pure-Python core")
    args = parser.parse_args()
    where = args.keep or tempfile.mkdtemp(prefix="wskrecv-bench-analyze-")
    os.makedirs(where, exist_ok=True)
    try:
        warm = os.path.join(where, "warm.pcap")
        write_capture(warm, 10)
        measure(warm, False)  # bytecode written: the runs below measure the analysis
        for n in (args.n, 4 * args.n):
            path = os.path.join(where, f"{n}.pcap")
            if not os.path.exists(path):
                write_capture(path, n)
            size = os.path.getsize(path)
            for pure in (False, True) if args.pure else (False,):
                cpu, rss, summary = measure(path, pure)
                assert summary["received"] == n
                core = "pure-Python" if pure else "native"
                print(f"{n:>9} datagrams ({size / 1e6:6.1f} MB), {core:>11} core: {cpu:6.2f} s CPU, "
                      f"{n / cpu / 1e6:5.2f} M datagrams/s, peak RSS {rss / 1024:6.1f} MiB")
    finally:
        if not args.keep:
            shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
