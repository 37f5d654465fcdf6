"""What a receiver got, worked out from its --dump records and the wskrecv headers.

The selftest compares this with what the generator reports it sent: exact counts of
datagrams, sequence numbers, late (reordered) arrivals, duplicates, sources and lengths.
A stream is one source address and port with one stream id, each numbering its datagrams
from 0, as the generator sends them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

from wskrecv import payload

StreamKey = tuple[str, int, int]  # source address, source port, stream id


@dataclass(frozen=True)
class Reception:
    """The datagrams one receiver reported, analysed."""

    count: int
    streams: dict[StreamKey, list[int]] = field(default_factory=dict)  # arrival order
    foreign: int = 0  # datagrams without a (whole) wskrecv header
    corrupt: int = 0  # wskrecv datagrams whose body fails its CRC-32
    late: int = 0  # arrived after a higher sequence number of their stream (first copies)
    duplicates: int = 0  # copies of a sequence number already received
    sources: Counter = field(default_factory=Counter)  # "addr:port" -> datagrams
    lengths: Counter = field(default_factory=Counter)
    truncated: int = 0

    @property
    def sequences(self) -> list[int]:
        """Every sequence number in arrival order (meaningful for one stream)."""
        return [seq for seqs in self.streams.values() for seq in seqs]

    @property
    def distinct(self) -> int:
        return sum(len(set(seqs)) for seqs in self.streams.values())

    def missing(self, each: int) -> list[int]:
        """Sequence numbers below `each` that some stream never received (every stream
        expected to carry 0 .. each-1); all of them when nothing arrived."""
        if not self.streams:
            return list(range(each))
        out: set[int] = set()
        for seqs in self.streams.values():
            out |= set(range(each)) - set(seqs)
        return sorted(out)

    @property
    def in_order(self) -> bool:
        return all(seqs == sorted(seqs) for seqs in self.streams.values())


def analyse(records: list[dict[str, Any]]) -> Reception:
    """Analyse --dump `datagram` records (hex data, src, sport, length, truncated)."""
    streams: dict[StreamKey, list[int]] = {}
    highest: dict[StreamKey, int] = {}
    seen: set[tuple[StreamKey, int]] = set()
    sources: Counter = Counter()
    lengths: Counter = Counter()
    foreign = corrupt = late = duplicates = truncated = 0
    for rec in records:
        sources[f"{rec['src']}:{rec['sport']}"] += 1
        lengths[rec["length"]] += 1
        truncated += bool(rec.get("truncated"))
        header = payload.parse_wskrecv(bytes.fromhex(rec["data"]))
        if header is None:
            foreign += 1
            continue
        corrupt += not header.valid
        key = (rec["src"], rec["sport"], header.stream)
        seq = header.sequence
        streams.setdefault(key, []).append(seq)
        if (key, seq) in seen:
            duplicates += 1
            continue
        seen.add((key, seq))
        if seq < highest.get(key, -1):
            late += 1
        else:
            highest[key] = seq
    return Reception(len(records), streams, foreign, corrupt, late, duplicates, sources,
                     lengths, truncated)


def first_difference(got: list[int], want: list[int]) -> Optional[str]:
    """Where two sequence lists first differ, for a failure message."""
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return f"position {i}: got sequence {a}, expected {b}"
    if len(got) != len(want):
        return f"got {len(got)} sequence numbers, expected {len(want)}"
    return None
