"""What the receive loop notes of the datagrams it reads, and the hand-out of kept ones.

The first and last arrival times (the summary's `first_s`/`last_s` and its rates), and the
outputs of kept datagrams (--dump, --pcap): the recorder queues them, the loop hands them
out, from its own thread only. The model only says MSG_TRUNC while the provider read the
whole datagram, so for kept datagrams longer than the receive buffer the real length is
remembered here (by source and kernel time) for --dump and --pcap to say it (orig_len).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Optional

from wskrecv.stats.recorder import DumpSink, Recorder


class Arrivals:
    """Arrival times of a run, and its kept datagrams on their way to the sinks."""

    def __init__(self, sinks: Sequence[DumpSink] = (),
                 truncates_above: Optional[int] = None) -> None:
        self.sinks = tuple(sinks)
        self._truncates_above = truncates_above if sinks else None
        self._orig_len: dict[tuple, int] = {}
        # Wall-clock start, and kernel receive times (ns since the epoch) of the first and
        # last datagram read.
        self.start_ns = 0
        self.first_ns: Optional[int] = None
        self.last_ns: Optional[int] = None

    def note(self, got: list) -> None:
        """The first and last arrival times (the kernel's, else now), and the real length
        of datagrams the receive buffer will truncate (kept ones only)."""
        if self.first_ns is None:
            self.first_ns = got[0].timestamp_ns or time.time_ns()
        self.last_ns = got[-1].timestamp_ns or time.time_ns()
        above = self._truncates_above
        if above is not None:
            for d in got:
                if len(d.data) > above:
                    self._orig_len[(d.remote, d.timestamp_ns)] = len(d.data)

    def hand_out(self, recorder: Recorder) -> None:
        """Give the datagrams the recorder kept since the last call to the sinks."""
        sinks = self.sinks
        orig = self._orig_len
        for rec in recorder.take_dumped():
            if rec.truncated and orig:
                length = orig.pop((rec.remote, rec.timestamp_ns), None)
                if length is not None:
                    rec = rec._replace(orig_len=length)
            for sink in sinks:
                sink(rec)

    def flush(self) -> None:
        """Write out what the sinks still buffer (a capture's last records)."""
        for sink in self.sinks:
            flush = getattr(sink, "flush", None)  # a capture has one; a plain function not
            if flush is not None:
                flush()

    def forget_lengths(self) -> None:
        """The run is over: no kept datagram is left to say its real length."""
        self._orig_len.clear()
