"""Per-source counts (datagrams, bytes), bounded however many senders there are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import index

from wskrecv.addresses import plain_host

MAX_SOURCES = 1024  # sources counted at once; beyond, the smallest half is dropped
TOP = 10  # sources a snapshot carries


@dataclass(frozen=True)
class SourceRow:
    """One sender (address and port) and what it sent."""

    address: str
    port: int
    datagrams: int
    bytes: int

    def as_dict(self) -> dict[str, object]:
        return {"address": self.address, "port": self.port, "datagrams": self.datagrams,
                "bytes": self.bytes}


class SourceTable:
    """remote address -> [datagrams, bytes], in `rows`. The counting kernel updates the
    rows and calls `new` for a sender it has not seen.

    When the table is full, the half with the fewest datagrams is dropped at once and
    counted in `evicted` (amortised constant work per new sender, even under a flood of
    spoofed sources); the busiest senders, which the top list shows, stay.

    The compiled core has a twin of this table (csrc/tables.c), owned by its Counter,
    whose `rows` is a copy.
    """

    def __init__(self, max_sources: int = MAX_SOURCES) -> None:
        self.rows: dict[tuple, list[int]] = {}
        self.max_sources = max(1, index(max_sources))
        self.evicted = 0  # sources dropped from the table
        self.seen = 0  # distinct sources counted (a returning evicted source counts again)

    def new(self, remote: tuple, size: int) -> None:
        """Count the first datagram of `remote`."""
        if len(self.rows) >= self.max_sources:
            self._evict()
        self.rows[remote] = [1, size]
        self.seen += 1

    def _evict(self) -> None:
        by_count = sorted(self.rows.items(), key=lambda kv: kv[1][0])
        for remote, _ in by_count[: max(1, len(by_count) // 2)]:
            del self.rows[remote]
            self.evicted += 1


def top(rows: Mapping[tuple, Sequence[int]], n: int = TOP) -> tuple[SourceRow, ...]:
    """The `n` sources of `rows` (a SourceTable's) with the most datagrams, busiest first
    (ties in the table's order)."""
    ranked = sorted(list(rows.items()), key=lambda kv: kv[1][0], reverse=True)  # one C-level copy first
    # A dual-stack socket's IPv4 senders are IPv4-mapped: shown as the IPv4 address.
    return tuple(SourceRow(plain_host(str(r[0])), int(r[1]), c[0], c[1]) for r, c in ranked[:n])
