"""Sequence analysis of one stream: loss, reordering, duplicates, jitter, in bounded memory.

A stream is one sender's sequence space (source address and port, plus the stream id when
the header has one). Definitions, per stream:

- `lost`: sequences never seen between the lowest and the highest seen;
- `reordered`: a datagram below the highest sequence seen, not seen before (not lost);
- `duplicates`: a sequence seen before;
- `late`: a datagram more than `window` sequences behind the highest: too old to tell a
  reordered datagram from a duplicate, so it is counted apart and its sequence stays lost;
- `restarts`: the sender started counting again (two consecutive sequences, both more
  than `window` behind the highest, as RFC 3550's probation does): the stream's counts so
  far are kept and a new run starts at those two, which are not late.

`Wrap32Tracker` unwraps a 32-bit counter (iperf3's default) into an ever-growing
sequence. Memory is one byte per sequence of the sliding window (a ring indexed by
sequence modulo the window), whatever the run's length. Jitter follows RFC 3550
(J += (|D| - J) / 16, D the change in transit time between consecutive arrivals), in
nanoseconds.
"""

from __future__ import annotations

from operator import index
from typing import Optional

from wskrecv.stats.latency import Histogram

WINDOW = 1 << 14  # sequences remembered behind the highest: deeper reordering is `late`
MAX_WINDOW = 1 << 30  # one byte each

_WRAP32 = 1 << 32
_HALF32 = 1 << 31
_LOW32 = _WRAP32 - 1


_ZEROS: dict[int, bytes] = {}


def _zeros(window: int) -> bytes:
    """`window` zero bytes, one object per window size."""
    z = _ZEROS.get(window)
    if z is None:
        z = _ZEROS[window] = bytes(window)
    return z


class StreamTracker:
    """Loss, reordering and duplicates of one stream, from the sequences it delivers."""

    __slots__ = (
        "base", "high", "seen", "reordered", "duplicates", "late", "jitter_ns",
        "last_transit", "mark", "_ring", "_mask", "_zeros", "probe", "restarts",
        "_prior_expected", "_prior_seen", "latency", "bytes",
    )

    def __init__(
        self, first: int, window: int = WINDOW, transit_ns: Optional[int] = None
    ) -> None:
        window = index(window)
        if window <= 0 or window & (window - 1) or window > MAX_WINDOW:
            raise ValueError("window must be a power of two, at most 2**30")
        self.base = first  # lowest sequence seen
        self.high = first  # highest sequence seen
        self.seen = 1  # distinct sequences seen in [base, high] (late ones excluded)
        self.reordered = 0
        self.duplicates = 0
        self.late = 0
        self.jitter_ns: Optional[float] = None
        self.last_transit = transit_ns
        self.mark = 0  # `datagrams` when the table last looked (see StreamTable._evict)
        self._ring = bytearray(window)  # 1: this slot's sequence in (high-window, high] seen
        self._mask = window - 1
        self._zeros = _zeros(window)  # shared: a flood of streams costs one ring each
        self._ring[first & self._mask] = 1
        # After a late datagram: its successor, which would mean a restart (None: no probe).
        self.probe: Optional[int] = None
        self.restarts = 0
        self._prior_expected = 0  # expected and seen of the runs before the last restart
        self._prior_seen = 0
        # The stream's one-way latencies: the counting kernel adds them when the format's
        # send times are wall-clock times (None until the first).
        self.latency: Optional[Histogram] = None
        self.bytes = 0  # the stream's datagrams' bytes, also added by the counting kernel

    @property
    def window(self) -> int:
        return self._mask + 1

    def unsee_first(self) -> None:
        """Forget the first sequence before any datagram carried it: the stream expects
        `first` next (StreamTable.expect)."""
        self._ring[self.base & self._mask] = 0
        self.high = self.base - 1
        self.seen = 0

    @property
    def distinct(self) -> int:
        """Distinct sequences seen (late ones excluded), over every run of the stream."""
        return self._prior_seen + self.seen

    @property
    def datagrams(self) -> int:
        """Datagrams this stream delivered."""
        return self._prior_seen + self.seen + self.duplicates + self.late

    @property
    def lost(self) -> int:
        return self.expected - self.distinct

    @property
    def expected(self) -> int:
        """Sequences from the lowest to the highest seen, summed over the stream's runs:
        the denominator of loss."""
        return self._prior_expected + self.high - self.base + 1

    def _restart(self, seq: int) -> None:
        """`seq - 1` (counted late) and `seq` begin a new run: keep the old run's counts,
        start again from those two."""
        self.restarts += 1
        self.probe = None
        self.late -= 1
        self._prior_expected += self.high - self.base + 1
        self._prior_seen += self.seen
        self.base = seq - 1
        self.high = seq
        self.seen = 2
        ring = self._ring
        ring[:] = self._zeros
        ring[(seq - 1) & self._mask] = 1
        ring[seq & self._mask] = 1

    def see(self, seq: int, transit_ns: Optional[int] = None) -> None:
        """Count one datagram carrying `seq`, sent `transit_ns` before it arrived (None
        when the header has no send time)."""
        high = self.high
        if seq == high + 1:  # in order: the common case first
            self._ring[seq & self._mask] = 1
            self.high = seq
            self.seen += 1
        elif seq > high:
            ring = self._ring
            mask = self._mask
            zeros = self._zeros
            # The skipped sequences enter the window unseen: clear their slots, which
            # still hold flags of sequences that have just left it.
            if seq - high > mask:
                ring[:] = zeros
            else:
                start = (high + 1) & mask
                end = seq & mask
                if start < end:
                    ring[start:end] = zeros[: end - start]
                else:
                    ring[start:] = zeros[: mask + 1 - start]
                    ring[:end] = zeros[:end]
            ring[seq & mask] = 1
            self.high = seq
            self.seen += 1
        elif seq > high - self._mask - 1:
            ring = self._ring
            i = seq & self._mask
            if ring[i]:
                self.duplicates += 1
            else:
                ring[i] = 1
                self.seen += 1
                self.reordered += 1
                if seq < self.base:
                    self.base = seq
        elif seq == self.probe:
            self._restart(seq)
        else:
            self.late += 1
            self.probe = seq + 1
        if transit_ns is not None:
            # RFC 3550 jitter, over consecutive arrivals whatever their sequence.
            last = self.last_transit
            self.last_transit = transit_ns
            if last is not None:
                d = transit_ns - last
                if d < 0:
                    d = -d
                j = self.jitter_ns
                self.jitter_ns = d / 16 if j is None else j + (d - j) / 16


class Wrap32Tracker(StreamTracker):
    """A stream whose header carries a 32-bit counter (iperf3's default): each value is
    taken as the sequence nearest to the highest seen, so the count runs on past 2**32."""

    __slots__ = ()

    def see(self, seq: int, transit_ns: Optional[int] = None) -> None:
        high = self.high
        seq |= high & ~_LOW32
        diff = seq - high
        if diff > _HALF32:
            seq -= _WRAP32
        elif diff < -_HALF32:
            seq += _WRAP32
        StreamTracker.see(self, seq, transit_ns)


MAX_STREAMS = 1024  # streams tracked at once; beyond, the least active half is retired


class SequenceTotals:
    """Counts over every stream of a run, retired ones included (plain, mutable)."""

    __slots__ = ("lost", "reordered", "duplicates", "late", "expected", "sequenced", "restarts",
                 "streams")

    def __init__(self) -> None:
        self.lost = self.reordered = self.duplicates = self.late = self.restarts = 0
        self.expected = 0  # sum of each stream's highest - lowest + 1
        self.sequenced = 0  # datagrams that carried a sequence
        self.streams = 0  # trackers added

    def add(self, t: StreamTracker) -> None:
        self.lost += t.lost
        self.reordered += t.reordered
        self.duplicates += t.duplicates
        self.late += t.late
        self.expected += t.expected
        self.sequenced += t.datagrams
        self.restarts += t.restarts
        self.streams += 1


class StreamTable:
    """Every stream's tracker, bounded: beyond `max_streams`, the half that delivered
    least since the previous eviction is retired at once (their counts kept in the
    totals), so a flood of new senders costs amortised constant work per stream and the
    receive path keeps no per-datagram recency. `wrap32`: new streams carry a 32-bit
    counter (Wrap32Tracker).

    The compiled core has a twin of this table (csrc/tables.c), owned by its Counter."""

    def __init__(self, max_streams: int = MAX_STREAMS, window: int = WINDOW, wrap32: bool = False) -> None:
        window = index(window)
        if window <= 0 or window & (window - 1) or window > MAX_WINDOW:
            raise ValueError("window must be a power of two, at most 2**30")
        self.streams: dict[tuple, StreamTracker] = {}
        self.max_streams = max(1, index(max_streams))
        self.window = window
        self._tracker: type[StreamTracker] = StreamTracker
        self.use_wrap32(wrap32)
        self.retired = SequenceTotals()
        self._expected: dict[tuple, int] = {}  # ((address, port), stream) -> first sequence
        self.evicted = 0  # streams retired to bound memory
        self.seen = 0  # streams started (a retired stream that returns counts again)

    def new(self, key: tuple, first: int, transit_ns: Optional[int] = None) -> StreamTracker:
        """Start tracking `key` at sequence `first` (the caller found no tracker)."""
        if len(self.streams) >= self.max_streams:
            self._evict()
        start = self._expected.pop((key[0][:2], key[1]), None) if self._expected else None
        if start is None or first < start:
            tracker = self._tracker(first, self.window, transit_ns)
        else:  # the sender said where it starts: what came before `first` is lost
            tracker = self._tracker(start, self.window)
            tracker.unsee_first()
            tracker.see(first, transit_ns)
        self.streams[key] = tracker
        self.seen += 1
        return tracker

    def expect(self, remote: tuple, stream: int, first: int) -> None:
        """The sender at `remote` will start `stream` at sequence `first` (iperf3 counts
        from 1): when its first datagram arrives, the datagrams before it count as lost.
        `remote` is matched on address and port (IPv6 flow and scope ignored); a tracker
        already there is retired (a new stream on a reused port)."""
        first = index(first)
        if len(self._expected) >= self.max_streams:
            self._expected.clear()
        self._expected[(remote[:2], stream)] = first
        for key in ((remote, stream), (remote[:2], stream)):
            old = self.streams.pop(key, None)
            if old is not None:
                self.retired.add(old)

    def use_wrap32(self, wrap32: bool) -> None:
        """Unwrap 32-bit counters (iperf3's default) in streams started from now on."""
        self._tracker = Wrap32Tracker if wrap32 else StreamTracker

    def _evict(self) -> None:
        by_activity = sorted(self.streams.items(), key=lambda kv: kv[1].datagrams - kv[1].mark)
        cut = max(1, len(by_activity) // 2)
        for key, tracker in by_activity[:cut]:
            self.retired.add(tracker)
            del self.streams[key]
            self.evicted += 1
        for _, tracker in by_activity[cut:]:
            tracker.mark = tracker.datagrams

    def totals(self) -> SequenceTotals:
        """Retired plus live counts, summed now."""
        out = SequenceTotals()
        r = self.retired
        out.lost, out.reordered, out.duplicates = r.lost, r.reordered, r.duplicates
        out.late, out.expected, out.sequenced = r.late, r.expected, r.sequenced
        out.restarts, out.streams = r.restarts, r.streams
        for tracker in list(self.streams.values()):
            out.add(tracker)
        return out

    def mean_jitter_ns(self) -> Optional[float]:
        """The mean of the live streams' jitter estimates; None when none has one."""
        values = [t.jitter_ns for t in list(self.streams.values()) if t.jitter_ns is not None]
        return sum(values) / len(values) if values else None
