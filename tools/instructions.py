"""Cost per datagram of each `wskrecv bench` mode, in measures that other load on the
machine hardly disturbs: callgrind instructions (user space only, exact to a few per
datagram) or CPU time (the receiving process's user + system time, kernel work included).

Each measurement is `wskrecv bench`'s drain: a fresh socket for the mode, filled with
COUNT datagrams by the C sender (or Python's), then drained by the mode as the receive
commands build it (bench.targets), on the core asked for. Only the drain is counted:
under callgrind the counters are zeroed just before it and dumped just after (client
requests from a tiny library compiled on the spot: valgrind's callgrind.h), so start-up,
imports and the fill are left out; every thread's instructions are summed (event --pend's
worker too).

    python tools/instructions.py [--modes irp-1,irp-64,event,event-pend,python]
                                 [--cores native,pure] [-n 20000] [--size 64]
                                 [--cpu [--rounds 5]] [--profile DIR]

Without --cpu it needs valgrind and a C compiler with valgrind's headers. --profile keeps
each drain's callgrind file there (callgrind_annotate FILE shows where the instructions
go). With --cpu, modes run in turn, round after round (interleaved), and the table gives
each one's median CPU microseconds per datagram and the ratio to the Python loop's, both
from the same rounds.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

TOGGLE_C = """
#include <valgrind/callgrind.h>
void wsk_zero(void) { CALLGRIND_ZERO_STATS; }
void wsk_dump(void) { CALLGRIND_DUMP_STATS_AT("drain"); }
"""
MODES = ("irp-1", "irp-64", "event", "event-pend", "python")


def _requests(where: Path) -> Any:
    """The callgrind client requests as C functions (ctypes): zero and dump."""
    from wskrecv.bench.native import find_compiler

    cc = find_compiler()
    if cc is None:
        raise SystemExit("no C compiler: cannot build the callgrind client requests")
    src, lib = where / "toggle.c", where / "toggle.so"
    src.write_text(TOGGLE_C)
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    return ctypes.CDLL(str(lib))


class _NoCollect:
    """Stands in for the gc module in bench.targets during a counted drain."""

    @staticmethod
    def collect() -> int:
        return 0


def _target(mode: str) -> Any:
    """The bench target of `mode` on this process's core (WSKRECV_NO_EXTENSIONS decides)."""
    from wskrecv.bench.targets import PythonLoop, mode_target
    from wskrecv.core import current

    return PythonLoop() if mode == "python" else mode_target(mode, current())


def inner(mode: str, count: int, size: int, callgrind: bool, tmp: Path) -> dict[str, Any]:
    """One drain of `count` datagrams by `mode`, in this process: what it cost."""
    from wskrecv.bench import targets
    from wskrecv.bench.native import build
    from wskrecv.bench.queue import Sender, fill, probe_truesize
    from wskrecv.bench.run import plan_queue
    from wskrecv.core import current

    requests = _requests(tmp) if callgrind else None
    target = _target(mode)
    count, truesize, rcvbuf, _ = plan_queue([target], count, size)
    sock = target.open(rcvbuf)
    try:
        probe_truesize(sock, size)
        report = fill(sock, count, size, truesize, Sender(build()))
        target.prepare(report.queued)
        # The target collects garbage before its clock starts (a whole-heap pass: millions
        # of instructions); collect here, outside the count, and make its call a no-op.
        gc.collect()
        targets.gc = _NoCollect()
        if requests is not None:
            requests.wsk_zero()
        cpu0 = time.process_time()
        got, seconds = target.receive()
        cpu = time.process_time() - cpu0
        if requests is not None:
            requests.wsk_dump()
        facts = target.check()
    finally:
        target.close()
    return {"mode": mode, "core": current().name, "queued": report.queued, "received": got,
            "cpu_s": cpu, "wall_s": seconds, **facts}


def _totals(path: Path) -> int:
    """The instruction total of a callgrind dump."""
    for line in path.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def _env(core: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("WSKRECV_NO_EXTENSIONS", None)
    if core == "pure":
        env["WSKRECV_NO_EXTENSIONS"] = "1"
    return env


def measure(mode: str, core: str, count: int, size: int, callgrind: bool,
            profile: Optional[Path]) -> dict[str, Any]:
    """Run one drain in a child process (under callgrind or not); its figures."""
    with tempfile.TemporaryDirectory(prefix="wskrecv-instr-") as tmpdir:
        tmp = Path(tmpdir)
        argv = [sys.executable, __file__, "--inner", mode, "-n", str(count), "--size", str(size),
                "--tmp", str(tmp)]
        if callgrind:
            argv = ["valgrind", "--tool=callgrind", "--collect-atstart=yes",
                    f"--callgrind-out-file={tmp}/cg.out", *argv, "--callgrind"]
        proc = subprocess.run(argv, env=_env(core), capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{mode} [{core}] failed:\n{proc.stderr[-2000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if callgrind:
            dumps = sorted(tmp.glob("cg.out.*"))
            if not dumps:
                raise SystemExit(f"{mode} [{core}]: callgrind wrote no dump")
            result["instructions"] = _totals(dumps[-1])
            if profile is not None:
                profile.mkdir(parents=True, exist_ok=True)
                (profile / f"{mode}-{core}.callgrind").write_bytes(dumps[-1].read_bytes())
    return result


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--cores", default="native,pure")
    ap.add_argument("-n", "--count", type=int, default=20000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--cpu", action="store_true", help="CPU time instead of instructions")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of --cpu")
    ap.add_argument("--profile", type=Path, help="keep the callgrind files here")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--callgrind", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.inner:
        print(json.dumps(inner(args.inner, args.count, args.size, args.callgrind, args.tmp)))
        return 0
    modes = [m for m in args.modes.split(",") if m]
    cores = [c for c in args.cores.split(",") if c]
    pairs = [(m, c) for m in modes for c in (cores if m != "python" else cores[:1])]
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {p: [] for p in pairs}
    rounds = args.rounds if args.cpu else 1
    for r in range(rounds):
        k = r % len(pairs)
        for mode, core in pairs[k:] + pairs[:k]:
            res = measure(mode, core, args.count, args.size, not args.cpu, args.profile)
            rows[(mode, core)].append(res)
            print(json.dumps(res), file=sys.stderr, flush=True)
    print(f"{args.count} datagrams of {args.size} bytes per drain"
          + (f", {rounds} rounds interleaved, medians" if args.cpu else ", callgrind"))
    base = rows.get(("python", cores[0]))
    if args.cpu:
        print("| mode | core | CPU us/datagram | vs python loop |\n| --- | --- | --- | --- |")
        py = statistics.median(r["cpu_s"] / r["received"] for r in base) if base else None
        for (mode, core), rs in rows.items():
            us = statistics.median(r["cpu_s"] / r["received"] for r in rs)
            ratio = f"{py / us:.2f}x" if py else "-"
            print(f"| {mode} | {core} | {us * 1e6:.3f} | {ratio} |")
    else:
        print("| mode | core | instructions/datagram |\n| --- | --- | --- |")
        for (mode, core), rs in rows.items():
            r = rs[0]
            print(f"| {mode} | {core if mode != 'python' else '-'} | "
                  f"{r['instructions'] / r['received']:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
