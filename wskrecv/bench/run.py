"""Running the benchmark: rounds of fresh sockets, fills, receives; raw samples out.

Drain: every measurement opens a fresh socket for its target, fills its queue and checks
the fill (SO_MEMINFO), then times the target draining exactly what is queued. Live: a
sender child sends `count` datagrams at full speed while the target receives; a watcher
thread ends the receive once the sender is done and the queue is empty.

Rounds alternate the targets, and each round starts with a different one, so slow drift
of the machine (other work on a shared CPU) spreads over all of them alike.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from wskrecv.bench.queue import FillReport, Sender, fill, probe_truesize, queued_bytes, socket_drops
from wskrecv.bench.queue import wait_until as poll_until
from wskrecv.bench.targets import Target
from wskrecv.errors import OsFailure

Progress = Callable[[str], None]
SLACK = 256 << 10  # queue room beyond the datagrams themselves
MAX_RCVBUF = (1 << 31) // 2 - 1  # the most a socket option (a C int) asks for; Linux doubles it


@dataclass
class Samples:
    """Raw per-round measurements of one target."""

    target: Target
    rounds: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DrainRun:
    """What a drain benchmark measured, before any statistics."""

    count_requested: int
    count: int
    truesize: int
    rcvbuf: int
    fills: list[FillReport]
    samples: list[Samples]
    notes: list[str]


@dataclass
class LiveRun:
    """What a live benchmark measured, before any statistics."""

    count: int
    rcvbuf: int
    samples: list[Samples]
    sender_rates: list[float]
    notes: list[str]


def _rotated(targets: list[Target], r: int) -> list[Target]:
    k = r % len(targets)
    return targets[k:] + targets[:k]


def plan_queue(targets: list[Target], count: int, size: int) -> tuple[int, int, int, list[str]]:
    """(count that fits, truesize, rcvbuf to ask for, notes) for a drain of `count`.

    Measures the truesize on a scratch socket of each kind of target and asks for room
    for all the datagrams; unprivileged, net.core.rmem_max may grant less, and then the
    count shrinks to what the queue can hold (said in a note)."""
    kinds = list({type(t): t for t in targets}.values())
    truesize = 0
    for t in kinds:
        try:
            truesize = max(truesize, probe_truesize(t.open(SLACK), size))
        finally:
            t.close()
    rcvbuf = min(count * truesize + SLACK, MAX_RCVBUF)
    granted = rcvbuf * 2
    for t in kinds:
        try:
            granted = min(granted, t.open(rcvbuf).getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        finally:
            t.close()
    # Linux grants (and enforces) twice what was asked for; keep a few datagrams spare.
    fits = max(1, granted // truesize - 4)
    notes: list[str] = []
    if fits < count:
        hint = ("the most one socket can have" if rcvbuf == MAX_RCVBUF else
                "run as root (SO_RCVBUFFORCE) or raise net.core.rmem_max to measure more")
        notes.append(
            f"the socket queue holds only {fits} datagrams of {size} bytes here "
            f"(receive buffer granted: {granted} bytes; {hint}): count lowered from {count}"
        )
        count = fits
    return count, truesize, rcvbuf, notes


def run_drain(
    targets: list[Target], sender: Sender, count: int, size: int, rounds: int, progress: Progress
) -> DrainRun:
    """Fill and drain, `rounds` times per target."""
    count_requested = count
    count, truesize, rcvbuf, notes = plan_queue(targets, count, size)
    fills: list[FillReport] = []
    samples = {t.name: Samples(t) for t in targets}
    for r in range(rounds):
        for t in _rotated(targets, r):
            sock = t.open(rcvbuf)
            try:
                own = probe_truesize(sock, size)
                if own != truesize:
                    raise OsFailure(
                        f"queue charge per datagram changed ({truesize} -> {own} bytes): "
                        "cannot count the queue"
                    )
                report = fill(sock, count, size, truesize, sender)
                fills.append(report)
                t.prepare(report.queued)
                got, seconds = t.receive()
                facts = t.check()
            finally:
                t.close()
            if got != report.queued:
                raise OsFailure(f"{t.name} drained {got} of {report.queued} queued datagrams")
            rate = got / seconds if seconds > 0 else 0.0
            samples[t.name].rounds.append(
                {"queued": report.queued, "fill_drops": report.drops, "fill_lost": report.lost,
                 "seconds": seconds, "rate": rate, **facts}
            )
            progress(f"round {r + 1}/{rounds}  {t.label:<28} {rate:>12,.0f} dg/s"
                     + (f"  (fill lost {report.lost})" if report.lost else ""))
    return DrainRun(count_requested, count, truesize, rcvbuf, fills,
                    [samples[t.name] for t in targets], notes)


def _live_once(target: Target, sender: Sender, count: int, size: int, rcvbuf: int) -> dict[str, Any]:
    """One receiver against one full-speed sender: sent, received, lost, kernel drops."""
    sock = target.open(rcvbuf)
    outcome: dict[str, Any] = {}
    quit_watch = threading.Event()
    proc = watcher = None

    def watch() -> None:
        # Once the sender is done and the queue is empty, nothing more can come: end the
        # receive (a receiver that reached `count` has ended already).
        try:
            outcome["sent"], outcome["send_ns"] = sender.result(proc)
            poll_until(lambda: quit_watch.is_set() or queued_bytes(sock) == 0, 60.0, step=0.005)
        except Exception as exc:  # reported by the main thread
            outcome["error"] = exc
        if not quit_watch.is_set():
            target.end()

    try:
        drops_before = socket_drops(sock)
        target.prepare(count)
        t0 = time.perf_counter()
        proc = sender.start(sock.getsockname(), count, size)
        watcher = threading.Thread(target=watch, name="bench-watcher", daemon=True)
        watcher.start()
        received, _ = target.receive()
        seconds = time.perf_counter() - t0
        watcher.join()
        if "error" in outcome:
            raise OsFailure(str(outcome["error"]))
        drops = socket_drops(sock) - drops_before
        facts = target.check()
    finally:
        quit_watch.set()
        if proc is not None and proc.poll() is None:
            proc.kill()  # interrupted: stop sending at once
        if watcher is not None:
            watcher.join()
        target.close()
    sent = outcome["sent"]
    return {
        "sent": sent,
        "received": received,
        "lost": sent - received,
        "kernel_drops": drops,
        "seconds": seconds,
        "rate": received / seconds if seconds > 0 else 0.0,
        "sender_rate": sent * 1e9 / outcome["send_ns"] if outcome["send_ns"] else 0.0,
        **{k: v for k, v in facts.items() if k != "kernel_drops"},
    }


def run_live(
    targets: list[Target], sender: Sender, count: int, size: int, rounds: int, rcvbuf: int,
    progress: Progress,
) -> LiveRun:
    """A full-speed sender against each target, `rounds` times."""
    samples = {t.name: Samples(t) for t in targets}
    sender_rates: list[float] = []
    for r in range(rounds):
        for t in _rotated(targets, r):
            rec = _live_once(t, sender, count, size, rcvbuf)
            samples[t.name].rounds.append(rec)
            sender_rates.append(rec["sender_rate"])
            progress(
                f"round {r + 1}/{rounds}  {t.label:<28} received {rec['received']:>9}"
                f"  lost {rec['lost']:>8}  kernel drops {rec['kernel_drops']:>8}"
            )
    return LiveRun(count, rcvbuf, [samples[t.name] for t in targets], sender_rates, [])
