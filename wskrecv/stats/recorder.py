"""The statistics the receivers update for every datagram they consume.

`record` runs inside every IRP completion routine and `record_many` once per
event-callback list; both hand the datagrams to the counting kernel
(stats/counting.py, or the compiled core's twin of it, chosen when the receive stack is
assembled: wskrecv.core). Percentiles, sorting and reading host counters wait for
`snapshot`, which the runner calls a few times a second.

Statistics never call outward: when asked to keep datagrams (--dump, --pcap), the
recorder queues one `DumpRecord` per datagram, and the runner takes them (`take_dumped`)
and hands them to the outputs, on its own thread.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Callable, NamedTuple, Optional

from wskrecv.stats.counting import Counter, CounterFactory
from wskrecv.stats.hostudp import HostUdp
from wskrecv.stats.latency import Histogram
from wskrecv.stats.modes import ModeStatistics
from wskrecv.stats.sequence import MAX_STREAMS, WINDOW, StreamTable
from wskrecv.stats.sizes import SizeStats
from wskrecv.stats.snapshot import Snapshot, _frozen
from wskrecv.stats.sources import MAX_SOURCES, TOP, SourceTable
from wskrecv.stats.sources import top as top_sources
from wskrecv.stats.streams import Marks, collect, mark, retired


class DumpRecord(NamedTuple):
    """One datagram kept for --dump and --pcap. `local` is its destination address from
    packet info, or None."""

    data: bytes
    remote: tuple
    truncated: bool
    timestamp_ns: Optional[int]
    local: Optional[str]
    orig_len: Optional[int] = None  # a truncated datagram's real length (the runner knows it)
    tos: Optional[int] = None  # the packet's TOS byte / traffic class (--tos-ttl, --dump)
    ttl: Optional[int] = None  # ... and its TTL / hop limit


DumpSink = Callable[[DumpRecord], None]  # an output that takes kept datagrams

HOST_MAX_AGE = 1.0  # seconds a display frame may reuse the host's UDP counters


class Recorder:
    """Mutable statistics of one run. Cheap to update; `snapshot()` freezes a copy.

    `seq_format` names the payload header to read (payload.FORMATS); `host` reports the
    host's UDP counters (None: not reported); `clock_ns` is the wall clock kernel
    timestamps are compared with (completion time for application latency); `counter`
    makes the counting kernel (the pure-Python one unless the assembly passes another).
    `keep_datagrams` queues a DumpRecord per datagram `record` counts, for `take_dumped`.
    `lock` is held by whoever records from a thread other than the one that takes
    snapshots (the caller takes it: `with recorder.lock`); None: one thread, no lock.
    """

    def __init__(
        self,
        mode: str,
        seq_format: str = "auto",
        host: Optional[HostUdp] = None,
        clock_ns: Callable[[], int] = time.time_ns,
        window: int = WINDOW,
        max_streams: int = MAX_STREAMS,
        max_sources: int = MAX_SOURCES,
        counter: Optional[CounterFactory] = None,
        keep_datagrams: bool = False,
        lock: Optional[AbstractContextManager[Any]] = None,
    ) -> None:
        self.mode = mode
        # deque: appended by the recording thread, emptied by the runner's, without a lock.
        self.dumped: Optional[deque[DumpRecord]] = deque() if keep_datagrams else None
        self.lock: AbstractContextManager[Any] = lock if lock is not None else nullcontext()
        self.seq_format = seq_format
        self.host = host
        self.clock_ns = clock_ns
        self.counts = (counter or Counter)(seq_format, window, max_streams, max_sources)
        self.truncated = 0
        # Latencies of finished intervals: `snapshot(advance=True)` folds the kernel's
        # interval histograms into these, so intervals and the summary each get their own
        # percentiles.
        self._owd_run = Histogram()
        self._app_run = Histogram()
        self._last_t = 0.0
        self._last_received = 0
        self._last_bytes = 0
        self._last_lost = 0
        self._last_expected = 0
        self._stream_marks: Marks = {}  # each stream's figures at the last interval

    def use_seq_format(self, seq_format: str) -> None:
        """Read payload headers as `seq_format` from now on (an iperf3 server switches
        between 32- and 64-bit counters from one test to the next); streams already
        tracked keep their trackers."""
        self.counts.use_seq_format(seq_format)
        self.seq_format = seq_format

    @property
    def sources(self) -> SourceTable:
        """The run's senders (the counting kernel's table)."""
        return self.counts.sources

    @property
    def streams(self) -> StreamTable:
        """The run's streams (the counting kernel's table)."""
        return self.counts.streams

    @property
    def received(self) -> int:
        return self.counts.received

    @property
    def bytes(self) -> int:
        return self.counts.bytes

    def record(
        self,
        data: Any,
        remote: tuple,
        timestamp_ns: Optional[int],
        truncated: bool,
        now_ns: Optional[int] = None,
        *,
        local: Optional[str] = None,
        tos: Optional[int] = None,
        ttl: Optional[int] = None,
    ) -> None:
        """Count one datagram the application consumed (`data` is what it received).

        `timestamp_ns` is the kernel receive time (None when unknown); `now_ns` the
        completion time, read from `clock_ns` when not given; `local`, the destination
        address from packet info, matters only to kept datagrams (--dump, --pcap), as do
        `tos` and `ttl`, the packet's own fields when the socket asked for them.
        """
        self.counts.add(data, remote, timestamp_ns, self.clock_ns() if now_ns is None else now_ns,
                        truncated)
        if truncated:
            self.truncated += 1
        if self.dumped is not None:
            self.dumped.append(DumpRecord(bytes(data), remote, truncated, timestamp_ns, local,
                                          tos=tos, ttl=ttl))

    def take_dumped(self) -> list[DumpRecord]:
        """The datagrams kept since the last call, oldest first (safe while another thread
        records)."""
        dumped = self.dumped
        if not dumped:
            return []
        popleft = dumped.popleft
        return [popleft() for _ in range(len(dumped))]

    def record_many(
        self, datas: Sequence[Any], remotes: Sequence[tuple], stamps: Sequence[Optional[int]],
        now_ns: Optional[int] = None,
    ) -> None:
        """Count datagrams consumed at one instant (one event callback's list), given as
        columns: the same counts as `record` for each. Nothing is kept: receivers whose
        datagrams are kept (--dump/--pcap) use `record`."""
        self.counts.add_list(datas, remotes, stamps, self.clock_ns() if now_ns is None else now_ns)

    def run_histograms(self) -> tuple[Histogram, Histogram]:
        """Copies of the run's one-way and application latency histograms, the current
        interval's values included: what stats/merge.py merges across workers."""
        out = []
        for run, current in zip((self._owd_run, self._app_run), self.counts.latency(False)):
            h = Histogram()
            h.merge(run)
            h.merge(current)
            out.append(h)
        return out[0], out[1]

    def sizes(self) -> SizeStats:
        c = self.counts
        received = c.received
        return SizeStats(
            received, c.size_min if received else 0, c.size_max, c.bytes, tuple(c.size_counts)
        )

    def _host_udp(self, advance: bool) -> Optional[Mapping[str, int]]:
        """The host's counters: read afresh for interval snapshots, at most once a second
        for display frames."""
        if self.host is None:
            return None
        delta = self.host.delta(max_age=0.0 if advance else HOST_MAX_AGE)
        return _frozen(delta) if delta is not None else None

    def snapshot(
        self,
        elapsed_s: float,
        kernel_drops: int,
        violations: Mapping[str, int],
        mode_stats: Optional[ModeStatistics],
        advance: bool = True,
        streams_limit: Optional[int] = 0,
        cautions: Optional[Mapping[str, int]] = None,
    ) -> Snapshot:
        """Freeze the counters; with `advance`, start a new interval at `elapsed_s`.
        `streams_limit` is how many per-stream rows the snapshot carries: the worst by loss
        (stats/streams.py), 0 none, None every stream; an interval that carries rows
        starts the next one's per-stream shares. `cautions`: the verifier's, by rule."""
        c = self.counts
        streams, sources = c.streams, c.sources
        totals = streams.totals()
        owd, app = c.latency(advance)
        received, nbytes = c.received, c.bytes
        snap = Snapshot(
            mode=self.mode,
            elapsed_s=elapsed_s,
            received=received,
            bytes=nbytes,
            truncated=self.truncated,
            kernel_drops=kernel_drops,
            violations=sum(violations.values()),
            interval_s=elapsed_s - self._last_t,
            interval_received=received - self._last_received,
            interval_bytes=nbytes - self._last_bytes,
            interval_lost=totals.lost - self._last_lost,
            interval_expected=totals.expected - self._last_expected,
            violations_by_rule=_frozen(violations),
            cautions=sum(cautions.values()) if cautions else 0,
            cautions_by_rule=_frozen(dict(cautions or {})),
            mode_stats=mode_stats,
            seq_format=self.seq_format,
            lost=totals.lost,
            reordered=totals.reordered,
            duplicates=totals.duplicates,
            corrupt=c.corrupt,
            unsequenced=c.unsequenced,
            reply_requests=c.reply_requests,
            late=totals.late,
            restarts=totals.restarts,
            expected=totals.expected,
            sequenced=totals.sequenced,
            streams_tracked=len(streams.streams),
            streams_seen=streams.seen,
            streams_evicted=streams.evicted,
            stream_rows=collect(streams, streams_limit, self._stream_marks) if streams_limit != 0 else (),
            streams_retired=retired(streams.retired),
            jitter_ns=streams.mean_jitter_ns(),
            latency=self._owd_run.percentiles(owd),
            app_latency=self._app_run.percentiles(app),
            interval_latency=owd.percentiles(),
            interval_app_latency=app.percentiles(),
            host_udp=self._host_udp(advance),
            sources=top_sources(sources.rows, TOP),
            sources_seen=sources.seen,
            sources_evicted=sources.evicted,
            sizes=self.sizes(),
            time_ns=self.clock_ns(),
        )
        if advance:
            self._last_t = elapsed_s
            self._last_received = received
            self._last_bytes = nbytes
            self._last_lost = totals.lost
            self._last_expected = totals.expected
            self._owd_run.merge(owd)
            self._app_run.merge(app)
            if streams_limit != 0:
                self._stream_marks = mark(streams)
        return snap
