"""What a receiver got, worked out from its --dump records and the wskrecv headers.

The selftest compares this with what the generator reports it sent: exact counts of
datagrams, sequence numbers, late (reordered) arrivals, duplicates, sources and lengths.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

from wskrecv import payload


@dataclass(frozen=True)
class Reception:
    """The datagrams one receiver reported, analysed."""

    count: int
    sequences: list[int]  # wskrecv sequence numbers in arrival order
    streams: Counter = field(default_factory=Counter)
    foreign: int = 0  # datagrams without a (whole) wskrecv header
    corrupt: int = 0  # wskrecv datagrams whose body fails its CRC-32
    late: int = 0  # arrived after a higher sequence number (first copies only)
    duplicates: int = 0  # copies of a sequence number already received
    sources: Counter = field(default_factory=Counter)  # "addr:port" -> datagrams
    lengths: Counter = field(default_factory=Counter)
    truncated: int = 0

    @property
    def distinct(self) -> int:
        return len(set(self.sequences))

    def missing(self, expected: int) -> list[int]:
        """Sequence numbers below `expected` that never arrived."""
        return sorted(set(range(expected)) - set(self.sequences))

    @property
    def in_order(self) -> bool:
        return self.sequences == sorted(self.sequences)


def analyse(records: list[dict[str, Any]]) -> Reception:
    """Analyse --dump `datagram` records (hex data, src, sport, length, truncated)."""
    sequences: list[int] = []
    streams: Counter = Counter()
    sources: Counter = Counter()
    lengths: Counter = Counter()
    foreign = corrupt = late = duplicates = truncated = 0
    seen: set[int] = set()
    highest = -1
    for rec in records:
        sources[f"{rec['src']}:{rec['sport']}"] += 1
        lengths[rec["length"]] += 1
        truncated += bool(rec.get("truncated"))
        header = payload.parse_wskrecv(bytes.fromhex(rec["data"]))
        if header is None:
            foreign += 1
            continue
        corrupt += not header.valid
        streams[header.stream] += 1
        seq = header.sequence
        sequences.append(seq)
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        if seq < highest:
            late += 1
        else:
            highest = seq
    return Reception(len(records), sequences, streams, foreign, corrupt, late, duplicates,
                     sources, lengths, truncated)


def first_difference(got: list[int], want: list[int]) -> Optional[str]:
    """Where two sequence lists first differ, for a failure message."""
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return f"position {i}: got sequence {a}, expected {b}"
    if len(got) != len(want):
        return f"got {len(got)} sequence numbers, expected {len(want)}"
    return None
