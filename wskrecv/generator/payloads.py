"""Datagram payloads: built once per size, patched per datagram (sequence, send time).

The header layouts live in `wskrecv.payload` (shared with the receivers' statistics);
this module only decides which size each sequence number gets and keeps one template
per size, so the per-datagram work is one `pack_into`.
"""

from __future__ import annotations

import random
from typing import Callable

from wskrecv import payload
from wskrecv.generator.spec import SizeItem

# Body bytes: a recognisable counting pattern (0x00, 0x01, ... 0xff, 0x00, ...).
_PATTERN = bytes(range(256)) * 256
# A range item repeats a seeded random draw of this many sizes.
_RANGE_CYCLE = 4096

Fill = Callable[[int, int], bytearray]


def body(size: int) -> bytes:
    """`size` bytes of the counting pattern."""
    return _PATTERN[:size]


class PayloadPlan:
    """Which payload each datagram of a run carries.

    Datagrams are numbered by their index in the run (`seq` below). Datagram `seq` uses
    size item `seq % len(items)`; a range item draws its size from a cycle seeded by
    `seed`, so a run is reproducible and a duplicate or a delayed datagram keeps its size.
    With `sources` > 1, datagram `seq` leaves from source `seq % sources` and its header
    carries `seq // sources`: each source numbers its own datagrams 0, 1, 2, ... as a
    receiver that tracks one stream per source expects.
    """

    def __init__(self, seq_format: str, stream: int, sizes: tuple[SizeItem, ...], seed: int = 0,
                 sources: int = 1):
        if seq_format not in ("wskrecv", "sockperf", "none"):
            raise ValueError(f"unknown sequence format {seq_format!r}")
        self.seq_format = seq_format
        self.stream = stream
        self.sources = max(1, sources)
        self._templates: dict[int, bytearray] = {}
        rng = random.Random(seed)
        ranged = any(item.low != item.high for item in sizes)
        length = len(sizes) * (_RANGE_CYCLE if ranged else 1)

        def pick(item: SizeItem) -> int:
            return item.low if item.low == item.high else rng.randint(item.low, item.high)

        self.cycle: list[bytearray] = [
            self._template(pick(sizes[i % len(sizes)])) for i in range(length)
        ]
        self.fill: Fill = self._filler()

    @property
    def sizes(self) -> list[int]:
        """The distinct payload sizes in use."""
        return sorted(self._templates)

    def size_of(self, seq: int) -> int:
        return len(self.cycle[seq % len(self.cycle)])

    def expected(self, seq: int) -> bytes:
        """The payload of `seq` as sent, except the send time (zeroed): for checkers."""
        buf = bytearray(self.cycle[seq % len(self.cycle)])
        self._patch(buf, seq // self.sources, 0)
        return bytes(buf)

    def _template(self, size: int) -> bytearray:
        buf = self._templates.get(size)
        if buf is None:
            if self.seq_format == "wskrecv":
                buf = payload.build(self.stream, 0, 0, body(size - payload.HEADER_LEN))
            elif self.seq_format == "sockperf":
                buf = payload.build_sockperf(0, size)
            else:
                buf = bytearray(body(size))
            self._templates[size] = buf
        return buf

    def _patch(self, buf: bytearray, seq: int, now_ns: int) -> None:
        if self.seq_format == "wskrecv":
            payload.patch(buf, seq, now_ns)
        elif self.seq_format == "sockperf":
            payload.SOCKPERF.pack_into(buf, 0, seq, 0, len(buf))

    def _filler(self) -> Fill:
        """fill(seq, now_ns) -> the patched template for datagram `seq` (valid until the
        next call for the same size: send it before filling again)."""
        cycle = self.cycle
        n = len(cycle)
        k = self.sources
        if self.seq_format == "wskrecv":
            patch = payload.patch
            if n == 1 and k == 1:  # the common case, kept lean: it runs per datagram
                only = cycle[0]

                def fill(seq: int, now_ns: int) -> bytearray:
                    patch(only, seq, now_ns)
                    return only
            else:
                def fill(seq: int, now_ns: int) -> bytearray:
                    buf = cycle[seq % n]
                    patch(buf, seq // k, now_ns)
                    return buf
        elif self.seq_format == "sockperf":
            pack = payload.SOCKPERF.pack_into

            def fill(seq: int, now_ns: int) -> bytearray:
                buf = cycle[seq % n]
                pack(buf, 0, seq // k, 0, len(buf))
                return buf
        else:
            def fill(seq: int, now_ns: int) -> bytearray:
                return cycle[seq % n]
        return fill
