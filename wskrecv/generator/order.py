"""The order datagrams leave in: plain counting, or with --reorder / --duplicate patterns.

The sender asks for the next few sequence numbers at a time (`take`). With a reorder
pattern, each hit is held back and sent after the next `amount` sequence numbers of its
own stream; with a
duplicate pattern, each hit is sent 1 + `amount` times in a row. The order counts, as it
goes, exactly what a receiver on a lossless path will see: `late` datagrams (sent after a
higher sequence number of the same stream) and `duplicated` extra copies. With several
sources, datagram `seq` belongs to stream `seq % streams` (see `PayloadPlan`).

`paced` is what the pacer counts: every datagram (copies included) as its sequence number
is taken, a held one too. A held datagram goes out later, within the same count, so a run
of `--rate R --duration T` sends R x T datagrams with or without --reorder.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Optional

from wskrecv.generator.spec import Pattern


class SendOrder:
    """Sequence numbers 0 .. count-1 (or unbounded) in sending order."""

    def __init__(
        self,
        count: Optional[int] = None,
        reorder: Optional[Pattern] = None,
        duplicate: Optional[Pattern] = None,
        streams: int = 1,
    ) -> None:
        self.count = count
        self.reorder = reorder
        self.duplicate = duplicate
        self.next_seq = 0  # the next sequence number not yet considered
        self.sequences = 0  # distinct sequence numbers sent
        self.late = 0
        self.duplicated = 0
        self.paced = 0  # datagrams taken so far, held ones included (see the module doc)
        self._streams = max(1, streams)
        self._highest = [-1] * self._streams  # per stream
        self._held: list[tuple[int, int]] = []  # (release after this seq, seq)
        self.plain = reorder is None and duplicate is None

    @property
    def exhausted(self) -> bool:
        """Every sequence number up to `count` has been sent."""
        return self.count is not None and self.next_seq >= self.count and not self._held

    @property
    def held(self) -> int:
        """Datagrams held back by the reorder pattern, not sent yet."""
        return len(self._held)

    def take(self, n: int) -> Iterable[int]:
        """The datagrams of about `n` more taken (fewer at the end; a few more when a
        duplicate's copies are due): held ones count when taken, released ones when sent
        count no more (see `paced`)."""
        start = self.next_seq
        if self.count is not None:
            n = min(n, self.count - start)
        if self.plain:
            n = max(n, 0)
            self.next_seq = start + n
            self.sequences += n
            self.paced += n
            return range(start, start + n)
        out: list[int] = []
        held = self._held
        reorder = self.reorder
        dup = self.duplicate
        last = self.count - 1 if self.count is not None else None
        budget = n  # counted as each sequence number is taken, not as it goes out
        while budget > 0:
            seq = self.next_seq
            if last is not None and seq > last:
                break
            self.next_seq += 1
            copies = 1 + (dup.amount if dup is not None and dup.hits(seq) else 0)
            budget -= copies
            self.paced += copies
            if reorder is not None and reorder.hits(seq) and seq != last:
                # N places late within its own stream: with several sources taking turns,
                # that is N * streams places in the sending order.
                heapq.heappush(held, (seq + reorder.amount * self._streams, seq))
            else:
                self._emit(seq, out)
            while held and (held[0][0] <= seq or seq == last):
                self._emit(heapq.heappop(held)[1], out)
        return out

    def flush(self) -> list[int]:
        """The datagrams still held back: sent when a run stops early, so none is lost."""
        out: list[int] = []
        while self._held:
            self._emit(heapq.heappop(self._held)[1], out)
        return out

    def _emit(self, seq: int, out: list[int]) -> None:
        self.sequences += 1
        stream = seq % self._streams
        if seq < self._highest[stream]:
            self.late += 1
        else:
            self._highest[stream] = seq
        out.append(seq)
        dup = self.duplicate
        if dup is not None and dup.hits(seq):
            out.extend([seq] * dup.amount)
            self.duplicated += dup.amount
