"""The counting kernel: what every consumed datagram adds to a run's statistics.

This is the readable reference. The compiled core (`wskrecv._core.Counter`, csrc/counting.c)
implements the same class and must agree with it exactly (property tests hold the two
together); `wskrecv.core` picks one when the receive stack is assembled and the Recorder
just calls it. Per datagram: its size (count, bytes, minimum, maximum, power-of-two
histogram), its sender (SourceTable), the application latency (completion time - kernel
timestamp), and, when its payload carries a recognised header, sequence analysis
(StreamTable), the CRC check and one-way latency (arrival - send time), for the
run and, in its tracker's `latency`, for the stream.

Each Counter owns its source and stream tables (SourceTable, StreamTable); the compiled
Counter owns the compiled twins of them (csrc/tables.c).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

from wskrecv.payload import FORMATS, READERS, TRUNCATED_READERS, asks_reply
from wskrecv.stats.latency import SUB_BITS, Histogram
from wskrecv.stats.sequence import MAX_STREAMS, WINDOW, StreamTable
from wskrecv.stats.sizes import SIZE_BUCKETS
from wskrecv.stats.sources import MAX_SOURCES, SourceTable

# A latency that is no integer (a caller's float time) is a TypeError, as in Histogram.add
# and the C kernel: int.bit_length, never the value's own method (AttributeError).
_bit_length = int.bit_length


def tables(
    seq_format: str, window: int, max_streams: int, max_sources: int
) -> tuple[SourceTable, StreamTable]:
    """A run's source and stream tables: iperf3's 32-bit counter is unwrapped, every other
    format carries 64 bits."""
    check_format(seq_format)
    return SourceTable(max_sources), StreamTable(max_streams, window, seq_format == "iperf3")


def check_format(seq_format: str) -> None:
    if not isinstance(seq_format, str):
        raise TypeError(f"seq_format must be a str, not {type(seq_format).__name__}")
    if seq_format not in FORMATS:
        raise ValueError(f"unknown sequence format {seq_format!r}")


def wall_clock(seq_format: str) -> bool:
    """Whether the format's send times are wall-clock times, comparable with the kernel's
    receive timestamps (one-way latency): iperf3 (3.2 and later) stamps CLOCK_MONOTONIC,
    whose differences still give jitter but not one-way latency."""
    return seq_format not in ("iperf3", "iperf3-64")


_NOBODY: Any = object()  # no sender yet (a caller's remote may be anything, even None)


class Counter:
    """Mutable counts of one run. `seq_format` names the payload header (payload.FORMATS)."""

    def __init__(
        self,
        seq_format: str = "auto",
        window: int = WINDOW,
        max_streams: int = MAX_STREAMS,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        self.received = 0
        self.bytes = 0
        self.corrupt = 0  # wskrecv datagrams whose body fails the header's CRC-32
        self.unsequenced = 0  # datagrams without a recognised header
        # sockperf messages that ask for a reply (ping-pong, under-load), among those not
        # read as another format's header: wskrecv never replies
        self.reply_requests = 0
        self.size_min = 1 << 30
        self.size_max = 0
        self.size_counts = [0] * SIZE_BUCKETS  # by bit length of the size
        self.sources, self.streams = tables(seq_format, window, max_streams, max_sources)
        self.use_seq_format(seq_format)
        self._owd = Histogram()  # this interval's one-way latencies
        self._app = Histogram()  # ... and application latencies

    def use_seq_format(self, seq_format: str) -> None:
        """Read payload headers as `seq_format` from now on (an iperf3 server switches
        between 32- and 64-bit counters from one test to the next); streams already
        tracked keep their trackers."""
        check_format(seq_format)
        self._parse = READERS.get(seq_format)  # None for "none"
        self._parse_truncated = TRUNCATED_READERS.get(seq_format)
        self._wall_clock = wall_clock(seq_format)
        self._sockperf = seq_format == "sockperf"
        self.streams.use_wrap32(seq_format == "iperf3")
        # What `_count` reads first, in one load (each attribute read costs on every call).
        self._hot = (self.size_counts, self.sources, self.sources.rows, self.streams,
                     self.streams.streams, self._parse, self._wall_clock, self._sockperf)

    def add(
        self, data: Any, remote: tuple, timestamp_ns: Optional[int], now_ns: int,
        truncated: bool = False,
    ) -> None:
        """Count one datagram: `data` as the application received it, from `remote`,
        with the kernel's receive time (None: unknown) and the time it was consumed;
        `truncated` when the receive buffer cut it (MSG_TRUNC)."""
        self._count(((data, remote, timestamp_ns),), now_ns, truncated)

    def add_list(
        self, datas: Sequence[Any], remotes: Sequence[tuple],
        timestamps_ns: Sequence[Optional[int]], now_ns: int,
    ) -> None:
        """Count a list consumed at one instant (an event callback's), given as columns
        (of one length: ValueError)."""
        n = len(datas)
        if len(remotes) != n or len(timestamps_ns) != n:
            raise ValueError("datas, remotes and timestamps differ in length")
        # The columns as they are now (a tuple is taken as it is): a remote's == may run
        # code that changes a list while the loop reads it; the compiled kernel does this.
        datas, remotes, timestamps_ns = tuple(datas), tuple(remotes), tuple(timestamps_ns)
        if len(remotes) != len(datas) or len(timestamps_ns) != len(datas):
            raise ValueError("datas, remotes and timestamps differ in length")
        self._count(zip(datas, remotes, timestamps_ns), now_ns, False)

    def _count(self, datagrams: Any, now_ns: int, truncated: bool) -> None:
        """The one counting path, `add`'s (one datagram) and `add_list`'s: each
        (data, remote, timestamp_ns) of `datagrams` in turn, in one loop, so a list costs
        no call per datagram.

        What every datagram touches is read once per call (`_hot`: the tables, their
        dicts and the format's reader, made again by `use_seq_format`). Consecutive
        datagrams of one sender (the usual list) share its source row, and of one stream
        its tracker, found once: the tables change during a call only through `new`,
        after which the new row or tracker is the one remembered."""
        size_counts, sources, rows, streams, trackers, parse, wall_clock, sockperf = self._hot
        if truncated:
            parse = self._parse_truncated
        owd, app = self._owd, self._app
        owd_counts, app_counts = owd.counts, app.counts
        row_remote: Any = _NOBODY  # the sender whose row is `row`
        row: Any = None
        key_remote: Any = _NOBODY  # the sender and stream whose tracker is `tracker`
        key_stream: Any = None
        tracker: Any = None
        for data, remote, timestamp_ns in datagrams:
            n = len(data)
            self.received += 1
            self.bytes += n
            try:
                size_counts[n.bit_length()] += 1
            except IndexError:  # beyond any UDP payload (only a caller's own data): the last bucket
                size_counts[-1] += 1
            if n > self.size_max:
                self.size_max = n
            if n < self.size_min:
                self.size_min = n
            if remote is row_remote:
                row[0] += 1
                row[1] += n
            else:
                row = rows.get(remote)
                if row is None:
                    sources.new(remote, n)  # counts its first datagram
                    row = rows[remote]
                else:
                    row[0] += 1
                    row[1] += n
                row_remote = remote
            if timestamp_ns is None:
                arrival = now_ns
            else:
                arrival = timestamp_ns
                # The application latency into its histogram (Histogram.add's work:
                # latency.bucket_of; negative counts as 0).
                value = now_ns - timestamp_ns
                if value < 0:
                    value = 0
                shift = _bit_length(value) - SUB_BITS - 1
                app_counts[value if shift <= 0 else (shift << SUB_BITS) + (value >> shift)] += 1
                app.sum += value
                if value > app.max:
                    app.max = value
            # A truncated datagram whose header fits is still sequenced.
            header = parse(data) if parse is not None else None
            if header is None:
                self.unsequenced += 1
                if asks_reply(data):
                    self.reply_requests += 1
                continue
            if sockperf and asks_reply(data):
                self.reply_requests += 1
            stream, seq, send_ns, valid = header
            if not valid:
                self.corrupt += 1
            transit = None
            bucket = -1  # the one-way latency's histogram bucket, when there is one
            if send_ns is not None:
                transit = arrival - send_ns
                if wall_clock:
                    # The same for the one-way latency, into the run's histogram and
                    # (below) the stream's.
                    value = transit if transit > 0 else 0
                    shift = _bit_length(value) - SUB_BITS - 1
                    bucket = value if shift <= 0 else (shift << SUB_BITS) + (value >> shift)
                    owd_counts[bucket] += 1
                    owd.sum += value
                    if value > owd.max:
                        owd.max = value
            if remote is key_remote and stream == key_stream:
                tracker.see(seq, transit)
            else:
                key = (remote, stream)
                tracker = trackers.get(key)
                if tracker is None:
                    tracker = streams.new(key, seq, transit)
                else:
                    tracker.see(seq, transit)
                key_remote, key_stream = remote, stream
            tracker.bytes += n
            if bucket >= 0:  # the stream's own latency percentiles
                latency = tracker.latency
                if latency is None:
                    latency = tracker.latency = Histogram()
                latency.counts[bucket] += 1
                latency.sum += value
                if value > latency.max:
                    latency.max = value

    def latency(self, advance: bool) -> tuple[Histogram, Histogram]:
        """This interval's (one-way, application) latency histograms; `advance` starts a
        new interval (the caller folds the returned ones into the run's)."""
        owd, app = self._owd, self._app
        if advance:
            self._owd, self._app = Histogram(), Histogram()
        return owd, app


CounterFactory = Callable[[str, int, int, int], Any]  # (seq_format, window, streams, sources)

__all__ = ["Counter", "CounterFactory", "check_format", "tables", "wall_clock"]
