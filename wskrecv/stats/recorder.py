"""The statistics the receivers update for every datagram they consume.

`record` is the receive path: it runs inside every IRP completion routine (and, through
`record_batch`, once per event-callback list), so it only bumps counters, indexes
histograms and updates the stream's tracker; percentiles, sorting and reading host
counters wait for `snapshot`, which the runner calls a few times a second.

Statistics never call outward: when asked to keep datagrams (--dump, --pcap), the
recorder queues one `DumpRecord` per datagram, and the runner takes them (`take_dumped`)
and hands them to the outputs, on its own thread.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from itertools import repeat
from operator import eq, itemgetter, sub
from typing import Any, Callable, NamedTuple, Optional
from zlib import crc32

from wskrecv.payload import FORMATS, HEADER_LEN, MAGIC, PARSERS, TRUNCATED_PARSERS, VERSION
from wskrecv.stats.hostudp import HostUdp
from wskrecv.stats.latency import Histogram, add_sorted
from wskrecv.stats.modes import ModeStatistics
from wskrecv.stats.sequence import MAX_STREAMS, WINDOW, StreamTable
from wskrecv.stats.sizes import SIZE_BUCKETS, SizeStats
from wskrecv.stats.snapshot import Snapshot, _frozen
from wskrecv.stats.sources import MAX_SOURCES, TOP, SourceTable


class DumpRecord(NamedTuple):
    """One datagram kept for --dump and --pcap. `local` is its destination address from
    packet info, or None."""

    data: bytes
    remote: tuple
    truncated: bool
    timestamp_ns: Optional[int]
    local: Optional[str]
    orig_len: Optional[int] = None  # a truncated datagram's real length (the runner knows it)


DumpSink = Callable[[DumpRecord], None]  # an output that takes kept datagrams

HEADER_FIELDS = "4sBBHIQQII"  # payload.HEADER's fields, for whole-list unpacking
_BODY = slice(HEADER_LEN, None)
HOST_MAX_AGE = 1.0  # seconds a display frame may reuse the host's UDP counters
# One datagram for record_batch: (data, remote, timestamp_ns, truncated, local).
Item = tuple[Any, tuple, Optional[int], bool, Optional[str]]


class Recorder:
    """Mutable statistics of one run. Cheap to update; `snapshot()` freezes a copy.

    `seq_format` names the payload header to read (payload.FORMATS); `host` reports the
    host's UDP counters (None: not reported); `clock_ns` is the wall clock kernel
    timestamps are compared with (completion time for application latency).
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
        keep_datagrams: bool = False,
        lock: Optional[AbstractContextManager[Any]] = None,
    ) -> None:
        self.mode = mode
        # deque: appended by the recording thread, emptied by the runner's, without a lock.
        self.dumped: Optional[deque[DumpRecord]] = deque() if keep_datagrams else None
        self.lock: AbstractContextManager[Any] = lock if lock is not None else nullcontext()
        self.host = host
        self.clock_ns = clock_ns
        self.received = 0
        self.bytes = 0
        self.truncated = 0
        self.corrupt = 0
        self.unsequenced = 0
        self.size_min = 1 << 30
        self.size_max = 0
        self.size_counts = [0] * SIZE_BUCKETS
        self.sources = SourceTable(max_sources)
        self.streams = StreamTable(max_streams, window)
        self._source_rows = self.sources.rows  # the same dicts, one lookup fewer each
        self._stream_rows = self.streams.streams
        self.use_seq_format(seq_format)
        self._run_layouts: dict[int, struct.Struct] = {}  # datagram size -> list layout
        # Latencies land in the interval's histograms; `snapshot(advance=True)` folds them
        # into the run's, so intervals and the summary each get their own percentiles.
        self.owd = Histogram()
        self.app = Histogram()
        self._owd_run = Histogram()
        self._app_run = Histogram()
        self._last_t = 0.0
        self._last_received = 0
        self._last_bytes = 0
        self._last_lost = 0
        self._last_expected = 0

    def use_seq_format(self, seq_format: str) -> None:
        """Read payload headers as `seq_format` from now on (an iperf3 server switches
        between 32- and 64-bit counters from one test to the next); streams already
        tracked keep their trackers."""
        if seq_format not in FORMATS:
            raise ValueError(f"unknown sequence format {seq_format!r}")
        self.seq_format = seq_format
        self.streams.use_wrap32(seq_format == "iperf3")
        self._parse = PARSERS.get(seq_format)  # None for "none"
        self._parse_truncated = TRUNCATED_PARSERS.get(seq_format)
        # For lists: a wskrecv header starts with the magic, so a list whose bytes do not
        # contain it anywhere is unsequenced without a parser call per datagram.
        self._magic = MAGIC if seq_format in ("auto", "wskrecv") else None
        # Whether send times are wall-clock times, comparable with the kernel's receive
        # timestamps: iperf3 (3.2 and later) stamps CLOCK_MONOTONIC, whose differences
        # still give jitter but not one-way latency.
        self._wall_clock = seq_format not in ("iperf3", "iperf3-64")

    def record(
        self,
        data: Any,
        remote: tuple,
        timestamp_ns: Optional[int],
        truncated: bool,
        now_ns: Optional[int] = None,
        *,
        local: Optional[str] = None,
    ) -> None:
        """Count one datagram the application consumed (`data` is what it received).

        `timestamp_ns` is the kernel receive time (None when unknown); `now_ns` the
        completion time, read from `clock_ns` when not given; `local`, the destination
        address from packet info, matters only to kept datagrams (--dump, --pcap).
        """
        # The hot path. The histogram updates inline latency.bucket_of with SUB_BITS = 5
        # written out (a test holds the two together): a call would cost more than the
        # update itself.
        n = len(data)
        self.received += 1
        self.bytes += n
        if truncated:
            self.truncated += 1
        self.size_counts[n.bit_length()] += 1
        if n > self.size_max:
            self.size_max = n
        if n < self.size_min:
            self.size_min = n
        row = self._source_rows.get(remote)
        if row is None:
            self.sources.new(remote, n)
        else:
            row[0] += 1
            row[1] += n
        if now_ns is None:
            now_ns = self.clock_ns()
        if timestamp_ns is None:
            arrival = now_ns
        else:
            arrival = timestamp_ns
            self.app.add(now_ns - timestamp_ns)
        # A truncated datagram whose header fits is still sequenced.
        parse = self._parse_truncated if truncated else self._parse
        header = parse(data) if parse is not None else None
        if header is None:
            self.unsequenced += 1
        else:
            stream, seq, send_ns, valid = header
            if not valid:
                self.corrupt += 1
            if send_ns is None:
                transit = None
            else:
                transit = arrival - send_ns
                if self._wall_clock:
                    self.owd.add(transit)
            key = (remote, stream)
            tracker = self._stream_rows.get(key)
            if tracker is None:
                self.streams.new(key, seq, transit)
            else:
                tracker.see(seq, transit)
        if self.dumped is not None:
            self.dumped.append(DumpRecord(bytes(data), remote, truncated, timestamp_ns, local))

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
        columns: the same counts as `record` for each, with the work done per list.

        Sizes, sources and latencies are updated with C-level passes (len, count, sum,
        a sort and one bisect per histogram bucket touched); only datagrams that carry a
        sequence header cost Python work each. Nothing is kept: receivers whose datagrams
        are kept (--dump/--pcap) use `record`.
        """
        n = len(datas)
        if not n:
            return
        if now_ns is None:
            now_ns = self.clock_ns()
        lengths = list(map(len, datas))
        total = sum(lengths)
        self.received += n
        self.bytes += total
        size = lengths[0]
        if lengths.count(size) == n:
            self.size_counts[size.bit_length()] += n
            lo = hi = size
        else:
            counts = self.size_counts
            for size in lengths:
                counts[size.bit_length()] += 1
            lo, hi = min(lengths), max(lengths)
        if hi > self.size_max:
            self.size_max = hi
        if lo < self.size_min:
            self.size_min = lo
        remote = remotes[0]
        one_sender = remotes.count(remote) == n
        if one_sender:  # the usual case
            row = self._source_rows.get(remote)
            if row is None:
                self.sources.new(remote, total)
                self._source_rows[remote][0] = n
            else:
                row[0] += n
                row[1] += total
        else:
            rows = self._source_rows
            for remote, size in zip(remotes, lengths):
                row = rows.get(remote)
                if row is None:
                    self.sources.new(remote, size)
                else:
                    row[0] += 1
                    row[1] += size
        if None in stamps:
            arrivals = [now_ns if t is None else t for t in stamps]
            known = [t for t in stamps if t is not None]
        else:
            arrivals = known = stamps
        if known:
            add_sorted(self.app, sorted(map(sub, repeat(now_ns), known)))
        magic = self._magic
        if self._parse is None:
            self.unsequenced += n
        elif magic is None:
            self._sequence_many(datas, remotes, arrivals)
        else:
            joined = b"".join(datas)
            if joined.find(magic) < 0:
                self.unsequenced += n  # no wskrecv header in the list (one C-level scan)
            elif not (
                one_sender and lo == hi and self._wskrecv_run(joined, datas, remote, arrivals, lo)
            ):
                self._sequence_many(datas, remotes, arrivals)

    def _wskrecv_run(
        self, joined: bytes, datas: Sequence[Any], remote: tuple, arrivals: Sequence[int],
        size: int,
    ) -> bool:
        """The common case as whole-list work: same-size wskrecv datagrams of one stream
        from one sender, continuing it in order. Headers are unpacked in one C call over
        the joined list and checked column by column; the stream's tracker takes the run
        in one step. Returns False, having counted nothing, when the list is anything
        else (the caller then goes datagram by datagram)."""
        if size < HEADER_LEN:
            return False
        layout = self._run_layouts.get(size)
        if layout is None:
            layout = struct.Struct(f"!{HEADER_FIELDS}{size - HEADER_LEN}x")
            self._run_layouts[size] = layout
        n = len(datas)
        magics, versions, _, hlens, streams, seqs, sends, blens, crcs = zip(
            *layout.iter_unpack(joined)
        )
        stream = streams[0]
        if (
            magics.count(MAGIC) != n
            or versions.count(VERSION) != n
            or hlens.count(HEADER_LEN) != n
            or blens.count(size - HEADER_LEN) != n
            or streams.count(stream) != n
        ):
            return False
        tracker = self._stream_rows.get((remote, stream))
        if tracker is None:
            return False
        first = seqs[0]
        if seqs != tuple(range(first, first + n)):
            return False
        transits = list(map(sub, arrivals, sends))
        if not tracker.see_run(first, n, transits):
            return False
        valid = list(map(eq, map(crc32, map(itemgetter(_BODY), datas)), crcs))
        self.corrupt += n - sum(valid)
        transits.sort()
        add_sorted(self.owd, transits)
        return True

    def _sequence_many(
        self, datas: Sequence[Any], remotes: Sequence[tuple], arrivals: Sequence[int]
    ) -> None:
        """Sequence analysis and one-way latency of a list, datagram by datagram."""
        parse = self._parse
        assert parse is not None
        rows = self._stream_rows
        transits: list[int] = []
        for data, remote, arrival in zip(datas, remotes, arrivals):
            header = parse(data)
            if header is None:
                self.unsequenced += 1
                continue
            stream, seq, send_ns, valid = header
            if not valid:
                self.corrupt += 1
            if send_ns is None:
                transit = None
            else:
                transit = arrival - send_ns
                transits.append(transit)
            key = (remote, stream)
            tracker = rows.get(key)
            if tracker is None:
                self.streams.new(key, seq, transit)
            else:
                tracker.see(seq, transit)
        if transits and self._wall_clock:
            transits.sort()
            add_sorted(self.owd, transits)

    def record_batch(self, items: Iterable[Item]) -> None:
        """Count a list of datagrams consumed at one instant (one event callback)."""
        now = self.clock_ns()
        record = self.record
        for data, remote, timestamp_ns, truncated, local in items:
            record(data, remote, timestamp_ns, truncated, now, local=local)

    def run_histograms(self) -> tuple[Histogram, Histogram]:
        """Copies of the run's one-way and application latency histograms, the current
        interval's values included: what stats/merge.py merges across workers."""
        out = []
        for run, current in ((self._owd_run, self.owd), (self._app_run, self.app)):
            h = Histogram()
            h.merge(run)
            h.merge(current)
            out.append(h)
        return out[0], out[1]

    def sizes(self) -> SizeStats:
        counts = tuple(self.size_counts)
        return SizeStats(
            self.received, self.size_min if self.received else 0, self.size_max, self.bytes,
            counts,
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
    ) -> Snapshot:
        """Freeze the counters; with `advance`, start a new interval at `elapsed_s`."""
        totals = self.streams.totals()
        owd, app = self.owd, self.app
        snap = Snapshot(
            mode=self.mode,
            elapsed_s=elapsed_s,
            received=self.received,
            bytes=self.bytes,
            truncated=self.truncated,
            kernel_drops=kernel_drops,
            violations=sum(violations.values()),
            interval_s=elapsed_s - self._last_t,
            interval_received=self.received - self._last_received,
            interval_bytes=self.bytes - self._last_bytes,
            interval_lost=totals.lost - self._last_lost,
            interval_expected=totals.expected - self._last_expected,
            violations_by_rule=_frozen(violations),
            mode_stats=mode_stats,
            seq_format=self.seq_format,
            lost=totals.lost,
            reordered=totals.reordered,
            duplicates=totals.duplicates,
            corrupt=self.corrupt,
            unsequenced=self.unsequenced,
            late=totals.late,
            restarts=totals.restarts,
            expected=totals.expected,
            sequenced=totals.sequenced,
            streams=len(self.streams.streams),
            streams_seen=self.streams.seen,
            streams_evicted=self.streams.evicted,
            jitter_ns=self.streams.mean_jitter_ns(),
            latency=self._owd_run.percentiles(owd),
            app_latency=self._app_run.percentiles(app),
            interval_latency=owd.percentiles(),
            interval_app_latency=app.percentiles(),
            host_udp=self._host_udp(advance),
            sources=self.sources.top(TOP),
            sources_seen=self.sources.seen,
            sources_evicted=self.sources.evicted,
            sizes=self.sizes(),
        )
        if advance:
            self._last_t = elapsed_s
            self._last_received = self.received
            self._last_bytes = self.bytes
            self._last_lost = totals.lost
            self._last_expected = totals.expected
            # Swap before folding: a datagram recorded meanwhile lands in the new interval.
            self.owd, self.app = Histogram(), Histogram()
            self._owd_run.merge(owd)
            self._app_run.merge(app)
        return snap
