"""Frozen views of a run's statistics. Display and JSON output render these only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Optional

from wskrecv.stats.latency import Percentiles
from wskrecv.stats.modes import ModeStatistics
from wskrecv.stats.sizes import SIZE_BUCKETS, SizeStats
from wskrecv.stats.sources import SourceRow
from wskrecv.stats.streams import RetiredStreams, StreamRow, as_json


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


_MAPPINGS = ("violations_by_rule", "cautions_by_rule", "host_udp", "iperf3", "faults")
MIN_RATE_SPAN_S = 0.001  # the shortest first-to-last span a summary gives a rate over


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


def utc(ns: Optional[int]) -> Optional[str]:
    """Nanoseconds since the epoch as RFC 3339 (ISO 8601) UTC with microseconds
    ("2026-12-07T03:14:31.123456Z"), or None."""
    if ns is None:
        return None
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rest // 1000:06d}Z"


def values(counts: list[int]) -> tuple[tuple[int, int], ...]:
    """Counts per value (index) as (value, count) of the values counted."""
    return tuple((v, n) for v, n in enumerate(counts) if n)


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
    # This interval's share of the sequence analysis (iperf3's Lost/Total): sequences
    # expected and lost since the previous interval. Negative when a datagram counted lost
    # before arrived late (reordered).
    interval_lost: int = 0
    interval_expected: int = 0
    violations_by_rule: Mapping[str, int] = field(default_factory=lambda: _frozen({}))
    # The verifier's cautions (the model's advice where the pages are silent): counted
    # apart from the violations, never failing a run.
    cautions: int = 0
    cautions_by_rule: Mapping[str, int] = field(default_factory=lambda: _frozen({}))
    mode_stats: Optional[ModeStatistics] = None
    # Sequence analysis (see stats/sequence.py for the definitions).
    seq_format: str = "auto"
    lost: int = 0
    reordered: int = 0
    duplicates: int = 0
    corrupt: int = 0
    unsequenced: int = 0
    reply_requests: int = 0  # sockperf messages that asked for a reply (never sent)
    late: int = 0
    restarts: int = 0  # a sender started counting again (see stats/sequence.py)
    expected: int = 0  # sequences from lowest to highest, summed over streams
    sequenced: int = 0  # datagrams that carried a recognised header
    streams_tracked: int = 0  # streams tracked now
    streams_seen: int = 0  # streams started (a returning retired stream counts again)
    streams_evicted: int = 0  # streams retired to bound memory (their counts kept)
    # Per-stream figures (stats/streams.py): every tracked stream's row (the summary, and
    # intervals with --per-stream) or the worst few (display frames), in the order they
    # started; and the sums of the streams no longer tracked.
    stream_rows: tuple[StreamRow, ...] = ()
    streams_retired: RetiredStreams = field(default_factory=RetiredStreams)
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
    # The end of the run (the summary's snapshot; None before): datagrams still queued,
    # drained unread (`unread_complete` False: the drain's time bound ran out, at least
    # that many), and the kernel's drops after the last datagram read.
    unread_at_exit: Optional[int] = None
    unread_complete: bool = True
    drops_after_last_read: Optional[int] = None
    # An inherited socket's drops before this run (kernel_drops counts the run's only);
    # None for a socket bound for this run.
    kernel_drops_before_run: Optional[int] = None
    # Wall clock (ns since the epoch) at the start, and the kernel receive times of the
    # first and last datagram read: the summary's rate is over first..last.
    start_ns: Optional[int] = None
    first_ns: Optional[int] = None
    last_ns: Optional[int] = None
    # A --workers run (stats/merge.py): each worker's line, and the sources seen by more
    # than one worker (a stream moved between workers: its sequence analysis is split).
    workers: tuple[WorkerRow, ...] = ()
    moved_sources: int = 0
    iperf3: Optional[Mapping[str, Any]] = None  # the iperf3 server's state (--iperf3)
    time_ns: Optional[int] = None  # the wall clock when the snapshot was taken
    # --tos-ttl (or --dump): datagrams read per TOS byte / IPv6 traffic class and per TTL /
    # hop limit, as (value, datagrams) of the values seen; None when not asked for.
    tos: Optional[tuple[tuple[int, int], ...]] = None
    ttl: Optional[tuple[tuple[int, int], ...]] = None
    # Injected faults and what the client did after them (--inject: wsk/outcomes.py),
    # in the summary only.
    faults: Optional[Mapping[str, Any]] = None

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
    def active_s(self) -> Optional[float]:
        """Seconds from the first datagram's arrival to the last's (None before two)."""
        if self.first_ns is None or self.last_ns is None or self.last_ns <= self.first_ns:
            return None
        return (self.last_ns - self.first_ns) / 1e9

    @property
    def rate_measurable(self) -> bool:
        """Whether the datagrams came over a span long enough for a rate: at least
        MIN_RATE_SPAN_S from the first arrival to the last. Over less (a burst of 100
        datagrams lands within a fraction of a millisecond on loopback) a rate describes
        how fast the burst was copied, not how fast anyone sends; one datagram has none."""
        span = self.active_s
        return span is not None and span >= MIN_RATE_SPAN_S and self.received > 1

    @property
    def datagrams_per_s(self) -> float:
        """The rate while datagrams came: (received - 1) / (last - first arrival), so idle
        time before the first and after the last does not dilute it. Over the whole run
        when there is no such span (fewer than two datagrams, or no times yet)."""
        span = self.active_s
        if span is not None and self.received > 1:
            return (self.received - 1) / span
        return self.received / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def bits_per_s(self) -> float:
        """Like datagrams_per_s, in bits: the mean datagram over the same span."""
        span = self.active_s
        if span is not None and self.received > 1:
            return self.bytes * 8 * (self.received - 1) / self.received / span
        return self.bytes * 8 / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def _since_start(self, ns: Optional[int]) -> Optional[float]:
        if ns is None or self.start_ns is None:
            return None
        return round((ns - self.start_ns) / 1e9, 6)

    @property
    def unseen_at_exit(self) -> int:
        """Datagrams that arrived and were never read: unread at exit, and the kernel's
        drops after the last read (no later datagram shows them as a sequence gap)."""
        return (self.unread_at_exit or 0) + (self.drops_after_last_read or 0)

    @property
    def drops_unexplained(self) -> int:
        """The kernel's drops during the run that no sequence gap shows: datagrams without
        a sequence (or more drops than gaps) are lost to the full queue all the same.
        (Each drop of sequenced traffic leaves a gap, counted in `lost`.)"""
        during = self.kernel_drops - (self.drops_after_last_read or 0)
        return max(0, during - self.lost)

    @property
    def expected_at_exit(self) -> int:
        """What loss_at_exit_pct divides by: the expected sequences (or, without sequence
        analysis, the datagrams received), those never read and the kernel's drops no
        gap shows."""
        base = self.expected if self.sequenced else self.received
        return base + self.unseen_at_exit + self.drops_unexplained

    @property
    def lost_at_exit(self) -> int:
        """Loss as --max-loss counts it: lost sequences, datagrams never read, and the
        kernel's drops no gap shows."""
        return self.lost + self.unseen_at_exit + self.drops_unexplained

    @property
    def loss_at_exit_pct(self) -> float:
        """Loss as --max-loss judges it: lost_at_exit over expected_at_exit."""
        total = self.expected_at_exit
        return 100.0 * self.lost_at_exit / total if total else 0.0

    @property
    def interval_loss_pct(self) -> float:
        """This interval's lost / expected, in percent (iperf3's per-interval Lost/Total)."""
        if self.interval_expected <= 0:
            return 0.0
        return 100.0 * self.interval_lost / self.interval_expected

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
            "reply_requests": self.reply_requests,
            "late": self.late,
            "restarts": self.restarts,
            "loss_pct": round(self.loss_pct, 6),
            "reorder_pct": round(self.reorder_pct, 6),
            "streams_tracked": self.streams_tracked,
            "streams_seen": self.streams_seen,
            "streams_evicted": self.streams_evicted,
            "jitter_ms": self.jitter_ms,
            "host_udp": dict(self.host_udp) if self.host_udp is not None else None,
            "sizes": self.sizes.as_dict(),
            "sources": [s.as_dict() for s in self.sources],
            "sources_seen": self.sources_seen,
            "sources_evicted": self.sources_evicted,
            "tos": [{"value": v, "dscp": v >> 2, "ecn": v & 3, "datagrams": n}
                    for v, n in self.tos] if self.tos is not None else None,
            "ttl": [{"value": v, "datagrams": n} for v, n in self.ttl]
            if self.ttl is not None else None,
            **workers,
            **({"iperf3": dict(self.iperf3)} if self.iperf3 is not None else {}),
        }

    def interval_dict(self, per_stream: bool = False) -> dict[str, Any]:
        """The `interval` JSON object (without its "type"). Latencies cover the interval;
        counts are totals so far, like `received`. `per_stream` adds the `streams` array
        (each stream's figures and its share of the interval) and `streams_retired`."""
        return {
            "mode": self.mode,
            "t": round(self.elapsed_s, 6),
            "time": utc(self.time_ns),
            "interval_s": round(self.interval_s, 6),
            "datagrams": self.interval_received,
            "bytes": self.interval_bytes,
            "datagrams_per_s": round(self.interval_datagrams_per_s, 1),
            "bits_per_s": round(self.interval_bits_per_s, 1),
            "interval_lost": self.interval_lost,
            "interval_expected": self.interval_expected,
            "interval_loss_pct": round(self.interval_loss_pct, 6),
            "received": self.received,
            "total_bytes": self.bytes,
            "truncated": self.truncated,
            "kernel_drops": self.kernel_drops,
            "violations": self.violations,
            **self._analysis(),
            "latency_ms": _ms(self.interval_latency),
            "app_latency_ms": _ms(self.interval_app_latency),
            **(as_json(self.stream_rows, self.streams_retired, interval=True) if per_stream else {}),
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
            "kernel_drops_after_last_read": self.drops_after_last_read,
            "kernel_drops_before_run": self.kernel_drops_before_run,
            "unread_at_exit": self.unread_at_exit,
            "unread_complete": self.unread_complete,
            "loss_at_exit_pct": round(self.loss_at_exit_pct, 6),
            "duration_s": round(self.elapsed_s, 6),
            "datagrams_per_s": round(self.datagrams_per_s, 1),
            "bits_per_s": round(self.bits_per_s, 1),
            "rate_over": "first to last datagram" if self.active_s else "run",
            "rate_measurable": self.rate_measurable,
            "first_s": self._since_start(self.first_ns),
            "last_s": self._since_start(self.last_ns),
            "first_time": utc(self.first_ns),
            "last_time": utc(self.last_ns),
            "violations": self.violations,
            "violations_by_rule": dict(self.violations_by_rule),
            "cautions": self.cautions,
            "cautions_by_rule": dict(self.cautions_by_rule),
            **self._analysis(),
            "latency_ms": _ms(self.latency),
            "app_latency_ms": _ms(self.app_latency),
            **as_json(self.stream_rows, self.streams_retired),
            **self.mode_json(),
            **({"faults": dict(self.faults)} if self.faults is not None else {}),
        }
