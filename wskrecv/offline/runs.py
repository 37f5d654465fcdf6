"""Runs read back from their JSON lines (`--json` of listen, event, run, analyze), as the
series `wskrecv plot` draws: per interval, the rate, loss, jitter, latency percentiles
and kernel drops; per stream its loss (`--per-stream`), per worker its rate
(`--workers`).

A file is hostile input like any other: lines are bounded (MAX_LINE bytes), so are the
points kept per series (past MAX_POINTS every other one is dropped, evenly, and the
stride doubles) and the streams and workers drawn (MAX_SERIES, the first seen); a value
of the wrong type is a gap, not an error. A file that is not wskrecv's JSON lines is a
RunFileError naming it and the line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import IO, Any, Optional

MAX_LINE = 1 << 20  # bytes in one JSON line (a summary with 1024 streams is ~200 KB)
MAX_POINTS = 20_000  # points kept per series
MAX_SERIES = 16  # streams or workers drawn per run
TYPES = ("start", "interval", "summary", "datagram", "iperf3", "metrics", "client", "note")


class RunFileError(Exception):
    """A file that is not a run's JSON lines; the message names it (and the line)."""


def number(value: Any) -> Optional[float]:
    """A finite number from JSON, or None (missing, null, a string, NaN...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class Series:
    """Points (x, y) with y None for a gap, thinned evenly past MAX_POINTS."""

    xs: list[float] = field(default_factory=list)
    ys: list[Optional[float]] = field(default_factory=list)
    stride: int = 1
    _seen: int = 0

    def add(self, x: float, y: Optional[float]) -> None:
        self._seen += 1
        if (self._seen - 1) % self.stride:
            return
        self.xs.append(x)
        self.ys.append(y)
        if len(self.xs) > MAX_POINTS:
            self.xs, self.ys = self.xs[::2], self.ys[::2]
            self.stride *= 2

    def __bool__(self) -> bool:
        return any(y is not None for y in self.ys)


@dataclass
class Run:
    """One run's series, labelled."""

    label: str
    mode: str = "?"
    rate: Series = field(default_factory=Series)  # datagrams/s
    bits: Series = field(default_factory=Series)  # bits/s
    loss: Series = field(default_factory=Series)  # this interval's lost/expected, %
    jitter: Series = field(default_factory=Series)  # ms
    p50: Series = field(default_factory=Series)  # one-way latency in the interval, ms
    p90: Series = field(default_factory=Series)
    p99: Series = field(default_factory=Series)
    drops: Series = field(default_factory=Series)  # kernel drops in the interval
    streams: dict[str, Series] = field(default_factory=dict)  # "addr:port #id" -> loss %
    workers: dict[str, Series] = field(default_factory=dict)  # "worker N" -> datagrams/s
    streams_left_out: int = 0
    intervals: int = 0
    summary: Optional[dict[str, Any]] = None
    _drops_before: float = 0.0

    def add_interval(self, obj: dict[str, Any]) -> None:
        t = number(obj.get("t"))
        if t is None:
            return
        self.intervals += 1
        self.rate.add(t, number(obj.get("datagrams_per_s")))
        self.bits.add(t, number(obj.get("bits_per_s")))
        expected = number(obj.get("interval_expected"))
        self.loss.add(t, number(obj.get("interval_loss_pct")) if expected else None)
        self.jitter.add(t, number(obj.get("jitter_ms")))
        latency = obj.get("latency_ms")
        latency = latency if isinstance(latency, dict) else {}
        for name in ("p50", "p90", "p99"):
            getattr(self, name).add(t, number(latency.get(name)))
        drops = number(obj.get("kernel_drops"))
        self.drops.add(t, None if drops is None else max(0.0, drops - self._drops_before))
        if drops is not None:
            self._drops_before = drops
        self._add_rows(t, obj.get("streams"), self.streams, _stream_name, "interval_loss_pct",
                       "interval_expected")
        self._add_rows(t, obj.get("workers"), self.workers, _worker_name, "datagrams_per_s", None)

    def _add_rows(self, t: float, rows: Any, series: dict[str, Series], name_of: Any,
                  key: str, needs: Optional[str]) -> None:
        if not isinstance(rows, list):
            return
        for row in rows[:4096]:
            if not isinstance(row, dict):
                continue
            name = name_of(row)
            if name not in series:
                if len(series) >= MAX_SERIES:
                    if series is self.streams:
                        self.streams_left_out += 1
                    continue
                series[name] = Series()
            ok = needs is None or number(row.get(needs))
            series[name].add(t, number(row.get(key)) if ok else None)


def _stream_name(row: dict[str, Any]) -> str:
    address, port = str(row.get("address", "?"))[:64], row.get("port", "?")
    where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return f"{where} #{row.get('stream', '?')}"


def _worker_name(row: dict[str, Any]) -> str:
    return f"worker {row.get('worker', '?')}"


def read_run(stream: IO[bytes], name: str, label: str) -> Run:
    """The run in the JSON lines of `stream` (called `name` in errors)."""
    run = Run(label)
    number_of_line = 0
    typed = 0
    while True:
        line = stream.readline(MAX_LINE + 1)
        if not line:
            break
        number_of_line += 1
        if len(line) > MAX_LINE:
            raise RunFileError(f"{name}: line {number_of_line} is longer than {MAX_LINE} bytes: "
                               "not wskrecv JSON lines")
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            raise RunFileError(f"{name}: line {number_of_line} is not JSON: not wskrecv JSON lines "
                               "(write them with --json)") from None
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind not in TYPES:
            raise RunFileError(f"{name}: line {number_of_line} is not a wskrecv JSON object (no "
                               "known \"type\"): not wskrecv JSON lines (write them with --json)")
        typed += 1
        if kind == "start":
            run.mode = str(obj.get("mode", "?"))[:32]
        elif kind == "interval":
            if run.mode == "?":
                run.mode = str(obj.get("mode", "?"))[:32]
            run.add_interval(obj)
        elif kind == "summary":
            run.summary = obj
    if not typed:
        raise RunFileError(f"{name} is empty: no wskrecv JSON lines")
    return run


__all__ = ["MAX_LINE", "MAX_POINTS", "MAX_SERIES", "Run", "RunFileError", "Series", "number", "read_run"]
