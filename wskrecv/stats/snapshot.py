"""Frozen views of a run's statistics. Display and JSON output render these only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Optional

from wskrecv.stats.latency import Percentiles
from wskrecv.stats.modes import ModeStatistics
from wskrecv.stats.sizes import SIZE_BUCKETS, SizeStats
from wskrecv.stats.sources import SourceRow


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


_MAPPINGS = ("violations_by_rule", "host_udp", "iperf3")


def _rebuild(state: dict[str, Any]) -> Snapshot:
    """Unpickle a Snapshot: its mappings travel as dicts and are frozen again."""
    for name in _MAPPINGS:
        if state.get(name) is not None:
            state[name] = _frozen(state[name])
    return Snapshot(**state)


def _no_sizes() -> SizeStats:
    return SizeStats(0, 0, 0, 0, (0,) * SIZE_BUCKETS)


@dataclass(frozen=True)
class WorkerRow:
    """One receive worker of a `--workers` run, as the merged snapshot lists it: what it
    received, its rate and CPU use over the last interval, its socket's kernel drops."""

    worker: int
    pid: int
    received: int
    datagrams_per_s: float
    kernel_drops: int
    cpu_pct: float  # CPU time over wall time in the last interval (100 = one core)
    alive: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"worker": self.worker, "pid": self.pid, "received": self.received,
                "datagrams_per_s": round(self.datagrams_per_s, 1),
                "kernel_drops": self.kernel_drops, "cpu_pct": round(self.cpu_pct, 1),
                "alive": self.alive}


def _ms(p: Optional[Percentiles]) -> Optional[dict[str, float]]:
    return p.as_ms() if p is not None else None


@dataclass(frozen=True)
class Snapshot:
    """Everything known about a run at one instant.

    `interval_*` fields cover the time since the previous snapshot that started a new
    interval; the rest cover the whole run. `mode_stats` is the receive style's own
    typed statistics (stats/modes.py: IrpStatistics or EventStatistics), or None.
    """

    mode: str
    elapsed_s: float
    received: int
    bytes: int
    truncated: int
    kernel_drops: int
    violations: int
    interval_s: float = 0.0
    interval_received: int = 0
    interval_bytes: int = 0
    violations_by_rule: Mapping[str, int] = field(default_factory=lambda: _frozen({}))
    mode_stats: Optional[ModeStatistics] = None
    # Sequence analysis (see stats/sequence.py for the definitions).
    seq_format: str = "auto"
    lost: int = 0
    reordered: int = 0
    duplicates: int = 0
    corrupt: int = 0
    unsequenced: int = 0
    late: int = 0
    restarts: int = 0  # a sender started counting again (see stats/sequence.py)
    expected: int = 0  # sequences from lowest to highest, summed over streams
    sequenced: int = 0  # datagrams that carried a recognised header
    streams: int = 0  # streams tracked now
    streams_seen: int = 0  # streams started (a returning retired stream counts again)
    streams_evicted: int = 0  # streams retired to bound memory (their counts kept)
    jitter_ns: Optional[float] = None
    latency: Optional[Percentiles] = None  # one-way: kernel receive time - send time
    app_latency: Optional[Percentiles] = None  # completion/callback time - kernel time
    interval_latency: Optional[Percentiles] = None
    interval_app_latency: Optional[Percentiles] = None
    host_udp: Optional[Mapping[str, int]] = None  # host-wide UDP counter deltas
    sources: tuple[SourceRow, ...] = ()
    sources_seen: int = 0
    sources_evicted: int = 0
    sizes: SizeStats = field(default_factory=_no_sizes)
    # A --workers run (stats/merge.py): each worker's line, and the sources seen by more
    # than one worker (a stream moved between workers: its sequence analysis is split).
    workers: tuple[WorkerRow, ...] = ()
    moved_sources: int = 0
    iperf3: Optional[Mapping[str, Any]] = None  # the iperf3 server's state (--iperf3)

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType does not pickle; the display process receives snapshots pickled.
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _MAPPINGS:
            if state[name] is not None:
                state[name] = dict(state[name])
        return (_rebuild, (state,))

    @property
    def interval_datagrams_per_s(self) -> float:
        return self.interval_received / self.interval_s if self.interval_s > 0 else 0.0

    @property
    def interval_bits_per_s(self) -> float:
        return self.interval_bytes * 8 / self.interval_s if self.interval_s > 0 else 0.0

    @property
    def datagrams_per_s(self) -> float:
        return self.received / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def bits_per_s(self) -> float:
        return self.bytes * 8 / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def loss_pct(self) -> float:
        """Lost sequences as a percentage of those expected (lowest to highest seen)."""
        return 100.0 * self.lost / self.expected if self.expected else 0.0

    @property
    def reorder_pct(self) -> float:
        """Reordered datagrams as a percentage of the datagrams that carried a sequence."""
        return 100.0 * self.reordered / self.sequenced if self.sequenced else 0.0

    @property
    def jitter_ms(self) -> Optional[float]:
        return round(self.jitter_ns / 1e6, 6) if self.jitter_ns is not None else None

    def mode_json(self) -> dict[str, Any]:
        """The receive style's statistics as JSON fields (none without them)."""
        return self.mode_stats.as_json() if self.mode_stats is not None else {}

    def _analysis(self) -> dict[str, Any]:
        """Sequence, timing, drop, source and size fields shared by both JSON objects."""
        workers: dict[str, Any] = {}
        if self.workers:
            workers = {"workers": [w.as_dict() for w in self.workers],
                       "moved_sources": self.moved_sources}
        return {
            "seq_format": self.seq_format,
            "lost": self.lost,
            "reordered": self.reordered,
            "duplicates": self.duplicates,
            "corrupt": self.corrupt,
            "unsequenced": self.unsequenced,
            "late": self.late,
            "restarts": self.restarts,
            "loss_pct": round(self.loss_pct, 6),
            "reorder_pct": round(self.reorder_pct, 6),
            "streams": self.streams,
            "streams_seen": self.streams_seen,
            "streams_evicted": self.streams_evicted,
            "jitter_ms": self.jitter_ms,
            "host_udp": dict(self.host_udp) if self.host_udp is not None else None,
            "sizes": self.sizes.as_dict(),
            "sources": [s.as_dict() for s in self.sources],
            "sources_seen": self.sources_seen,
            "sources_evicted": self.sources_evicted,
            **workers,
            **({"iperf3": dict(self.iperf3)} if self.iperf3 is not None else {}),
        }

    def interval_dict(self) -> dict[str, Any]:
        """The `interval` JSON object (without its "type"). Latencies cover the interval;
        counts are totals so far, like `received`."""
        return {
            "mode": self.mode,
            "t": round(self.elapsed_s, 6),
            "interval_s": round(self.interval_s, 6),
            "datagrams": self.interval_received,
            "bytes": self.interval_bytes,
            "datagrams_per_s": round(self.interval_datagrams_per_s, 1),
            "bits_per_s": round(self.interval_bits_per_s, 1),
            "received": self.received,
            "total_bytes": self.bytes,
            "truncated": self.truncated,
            "kernel_drops": self.kernel_drops,
            "violations": self.violations,
            **self._analysis(),
            "latency_ms": _ms(self.interval_latency),
            "app_latency_ms": _ms(self.interval_app_latency),
            **self.mode_json(),
        }

    def summary_dict(self) -> dict[str, Any]:
        """The `summary` JSON object (without its "type"): the whole run."""
        return {
            "mode": self.mode,
            "received": self.received,
            "bytes": self.bytes,
            "truncated": self.truncated,
            "kernel_drops": self.kernel_drops,
            "duration_s": round(self.elapsed_s, 6),
            "datagrams_per_s": round(self.datagrams_per_s, 1),
            "bits_per_s": round(self.bits_per_s, 1),
            "violations": self.violations,
            "violations_by_rule": dict(self.violations_by_rule),
            **self._analysis(),
            "latency_ms": _ms(self.latency),
            "app_latency_ms": _ms(self.app_latency),
            **self.mode_json(),
        }
