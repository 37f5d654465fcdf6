"""wskrecv's statistics as the iperf3 server reads them: one stream per source address.

The recorder keys a stream by (source address, stream id); iperf3 payloads carry no stream
id, so an iperf3 stream is the recorder's stream (remote, 0). Its connect datagram tells
the recorder to expect sequence 1 first, so that datagrams lost before the first one that
arrives count as lost, as in iperf3's own server.
"""

from __future__ import annotations

from typing import Any, Optional

from wskrecv.iperf3.server import StreamFigures
from wskrecv.stats.recorder import Recorder


class RecorderCounting:
    """The `Counting` interface over a Recorder, under the recorder's lock (a worker thread
    records with `event --pend`). A remote is matched on address and port: the receivers
    key IPv6 senders with or without flow and scope."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.lock = recorder.lock

    def use_seq_format(self, seq_format: str) -> None:
        with self.lock:
            self.recorder.use_seq_format(seq_format)

    def expect_stream(self, remote: tuple, first: int) -> None:
        with self.lock:
            self.recorder.streams.expect(remote, 0, first)

    def figures(self, remote: tuple) -> StreamFigures:
        with self.lock:
            t = _either(self.recorder.streams.streams, remote, (0,))
            row = _either(self.recorder.sources.rows, remote, ())
            size = row[1] if row else 0
            if t is None:  # nothing arrived (or a flood of senders retired the stream)
                return StreamFigures(0, 0, 0, 0, None, 0, size)
            return StreamFigures(
                packets=t.expected, lost=t.lost, reordered=t.reordered,
                duplicates=t.duplicates, jitter_ns=t.jitter_ns, datagrams=t.datagrams,
                bytes=size,
            )


def _either(table: dict, remote: tuple, suffix: tuple) -> Optional[Any]:
    """table[remote (+ suffix)], trying the full address tuple, then address and port."""
    key = (remote, *suffix) if suffix else remote
    found = table.get(key)
    if found is None and len(remote) > 2:
        found = table.get((remote[:2], *suffix) if suffix else remote[:2])
    return found
