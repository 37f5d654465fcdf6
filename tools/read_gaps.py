"""The longest pauses between reads on a receive command's receive thread.

While the receive thread does anything but read (process a batch, build a snapshot,
report an interval, collect garbage...), datagrams pile up in the socket's queue; a 208 KB
queue holds about 0.5 ms of 3 Gbit/s. This runs a receive command in this process
(`wskrecv.cli.main`, as the installed command runs it) on a loopback socket it binds
itself (`--fd`: 212992 bytes of receive buffer unless --rcvbuf), while a full-speed
sender (bench's C sendmmsg sender, else Python's) keeps the queue full for --seconds, and
times every gap: from the end of one read to the start of the next, less the time spent
waiting for the socket (the loop's wait). Each gap is measured on the wall clock and in the
thread's own CPU time: preemption by other processes on a shared machine lengthens the
first, never the second. Garbage collections and the loop's timed work (`Runner._on_time`:
interval reports, display frames, metrics) are recorded too, and the longest gaps say
which of them they contain.

    python tools/read_gaps.py [--seconds 5] [--size 64] [--rounds 3] [--top 5] [--json]
                              -- event|listen|run CLIENT.py [receive options]

The command gets `--fd`, `--duration` and `--json` (stdout kept in memory; --plain leaves
the output as the options say, to /dev/null). Not a CI test: a measurement; compare
figures from the same run.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import socket
import statistics
import sys
import threading
import time
from operator import itemgetter
from typing import Any, Optional

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from wskrecv import cli  # noqa: E402
from wskrecv.bench.native import build  # noqa: E402
from wskrecv.bench.queue import Sender  # noqa: E402
from wskrecv.provider.udp import UdpProvider  # noqa: E402
from wskrecv.runner import loop  # noqa: E402

_ns = time.perf_counter_ns
_cpu = time.thread_time_ns


class Recording:
    """Reads, waits, collections and timed work of one run, on the perf_counter_ns clock."""

    def __init__(self) -> None:
        self.main = threading.get_ident()
        self.reads = 0
        self.datagrams = 0
        self.gaps: list[tuple[int, int, int]] = []  # (wall ns, cpu ns, end of the gap)
        self.events: list[tuple[int, int, str]] = []  # (start, end, what)
        self._last_end: Optional[int] = None
        self._last_cpu = 0
        self._waited = 0
        self._gc_start: dict[int, int] = {}

    def before_read(self) -> None:
        if threading.get_ident() != self.main:
            return
        now, cpu = _ns(), _cpu()
        if self._last_end is not None:
            # CPU spent waiting is the wait's own (select): next to nothing
            self.gaps.append((now - self._last_end - self._waited, cpu - self._last_cpu, now))
        self._waited = 0

    def after_read(self, got: int) -> None:
        if threading.get_ident() != self.main:
            return
        self.reads += 1
        self.datagrams += got
        self._last_end, self._last_cpu = _ns(), _cpu()

    def waited(self, ns: int) -> None:
        if threading.get_ident() == self.main:
            self._waited += ns

    def event(self, start: int, end: int, what: str) -> None:
        self.events.append((start, end, what))

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        key = threading.get_ident()
        if phase == "start":
            self._gc_start[key] = _ns()
        elif key in self._gc_start:
            self.event(self._gc_start.pop(key), _ns(), f"gc gen{info['generation']}")

    def within(self, end: int, length: int) -> list[str]:
        """What happened during the gap that ended at `end`, with its own duration."""
        start = end - length
        return [f"{what} {(e - s) / 1e3:.0f} us" for s, e, what in self.events
                if s < end and e > start]


RECORDING: Optional[Recording] = None


def instrument() -> None:
    """Wrap the provider's read, the loop's wait and its timed work, and hear the GC."""
    read = UdpProvider.read
    wait_ready = loop.wait_ready
    on_time = loop.Runner._on_time

    def timed_read(self: UdpProvider, max_n: int) -> list:
        rec = RECORDING
        if rec is None:
            return read(self, max_n)
        rec.before_read()
        got = read(self, max_n)
        rec.after_read(len(got))
        return got

    def timed_wait(*args: Any) -> Any:
        t0 = _ns()
        try:
            return wait_ready(*args)
        finally:
            if RECORDING is not None:
                RECORDING.waited(_ns() - t0)

    def timed_on_time(self: Any, now: float) -> Any:
        t0 = _ns()
        try:
            return on_time(self, now)
        finally:
            t1 = _ns()
            if RECORDING is not None and t1 - t0 > 20_000:  # something was due
                RECORDING.event(t0, t1, "timed work (interval/frame/metrics)")

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if RECORDING is not None:
            RECORDING.on_gc(phase, info)

    UdpProvider.read = timed_read  # type: ignore[method-assign]
    loop.wait_ready = timed_wait
    loop.Runner._on_time = timed_on_time  # type: ignore[method-assign]
    gc.callbacks.append(on_gc)


def one_round(command: list[str], seconds: float, size: int, rcvbuf: Optional[int],
              plain: bool, sender: Sender) -> tuple[Recording, dict[str, Any]]:
    """One run of `command` against a full-speed sender."""
    global RECORDING
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind(("127.0.0.1", 0))
    address = sock.getsockname()
    fd = sock.detach()  # the command adopts it (and closes it)
    argv = [*command, "--fd", str(fd), "--duration", str(seconds)]
    if not plain:
        argv.append("--json")
    proc = sender.start(address, 1 << 40, size)
    out = io.BytesIO()
    streams = sys.stdout, sys.stderr
    wrapper = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    with open(os.devnull, "w") as sink:
        sys.stdout, sys.stderr = (sink if plain else wrapper), sink
        RECORDING = rec = Recording()
        try:
            cli.main(argv)
        except SystemExit:
            pass
        finally:
            RECORDING = None
            sys.stdout, sys.stderr = streams
            wrapper.detach()
            proc.kill()
            proc.wait()
    summary: dict[str, Any] = {}
    for line in out.getvalue().decode().splitlines():
        obj = json.loads(line) if line.startswith("{") else {}
        if obj.get("type") == "summary":
            summary = obj
    return rec, summary


def _pct(values: list[int], q: float) -> int:
    if not values:
        return 0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def report(rec: Recording, summary: dict[str, Any], top: int) -> dict[str, Any]:
    walls = [g[0] for g in rec.gaps]
    cpus = [g[1] for g in rec.gaps]
    longest = sorted(rec.gaps, reverse=True)[:top]
    # On a shared machine the longest on the wall clock are mostly preemption: the longest
    # in the thread's own CPU time are the receiver's own pauses.
    longest_cpu = sorted(rec.gaps, key=itemgetter(1), reverse=True)[:top]
    return {
        "reads": rec.reads,
        "datagrams": rec.datagrams,
        "per_read": round(rec.datagrams / rec.reads, 1) if rec.reads else 0,
        "kernel_drops": summary.get("kernel_drops"),
        "gap_us": {"p50": _pct(walls, 0.5) / 1e3, "p99": _pct(walls, 0.99) / 1e3,
                   "p99.9": _pct(walls, 0.999) / 1e3, "max": max(walls, default=0) / 1e3},
        "gap_cpu_us": {"p50": _pct(cpus, 0.5) / 1e3, "p99": _pct(cpus, 0.99) / 1e3,
                       "p99.9": _pct(cpus, 0.999) / 1e3, "max": max(cpus, default=0) / 1e3},
        "longest": [{"wall_us": w / 1e3, "cpu_us": c / 1e3, "during": rec.within(end, w)}
                    for w, c, end in longest],
        "longest_cpu": [{"wall_us": w / 1e3, "cpu_us": c / 1e3, "during": rec.within(end, w)}
                        for w, c, end in longest_cpu],
        "gc": _gc_summary(rec),
    }


def _gc_summary(rec: Recording) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s, e, what in rec.events:
        if what.startswith("gc"):
            d = out.setdefault(what, {"count": 0, "max_us": 0.0})
            d["count"] += 1
            d["max_us"] = max(d["max_us"], (e - s) / 1e3)
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--top", type=int, default=5, help="longest gaps to show with their causes")
    ap.add_argument("--rcvbuf", type=int, help="SO_RCVBUF to ask for (default: the OS's)")
    ap.add_argument("--plain", action="store_true", help="no --json: output as the options say")
    ap.add_argument("--json", action="store_true", help="the figures as JSON")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args(argv)
    instrument()
    sender = Sender(build())
    rounds = []
    for r in range(args.rounds):
        rec, summary = one_round(args.command, args.seconds, args.size, args.rcvbuf, args.plain,
                                 sender)
        rounds.append(report(rec, summary, args.top))
        if not args.json:
            _print_round(r, rounds[-1])
    maxima = [r["gap_us"]["max"] for r in rounds]
    cpu_maxima = [r["gap_cpu_us"]["max"] for r in rounds]
    result = {"command": args.command, "sender": sender.method, "seconds": args.seconds,
              "size": args.size, "rounds": rounds,
              "median_max_gap_us": statistics.median(maxima),
              "median_max_gap_cpu_us": statistics.median(cpu_maxima)}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"wskrecv {' '.join(args.command)}: longest gap between reads, median of "
              f"{args.rounds} rounds: {result['median_max_gap_us']:.0f} us wall, "
              f"{result['median_max_gap_cpu_us']:.0f} us CPU")
    return 0


def _print_round(r: int, fig: dict[str, Any]) -> None:
    g, c = fig["gap_us"], fig["gap_cpu_us"]
    print(f"round {r + 1}: {fig['reads']} reads, {fig['datagrams']} datagrams "
          f"({fig['per_read']}/read), kernel drops {fig['kernel_drops']}")
    print(f"  gap us wall p50 {g['p50']:.0f}  p99 {g['p99']:.0f}  p99.9 {g['p99.9']:.0f}  "
          f"max {g['max']:.0f};  CPU p50 {c['p50']:.0f}  p99 {c['p99']:.0f}  "
          f"p99.9 {c['p99.9']:.0f}  max {c['max']:.0f}")
    for title, key in (("longest on the wall clock", "longest"), ("longest in CPU time", "longest_cpu")):
        print(f"  {title}:")
        for x in fig[key]:
            during = ", ".join(x["during"]) or "-"
            print(f"  {x['wall_us']:8.0f} us wall {x['cpu_us']:8.0f} us CPU   during: {during}")
    if fig["gc"]:
        print("  gc: " + ", ".join(f"{k} x{v['count']} (max {v['max_us']:.0f} us)"
                                   for k, v in sorted(fig["gc"].items())))


if __name__ == "__main__":
    sys.exit(main())
