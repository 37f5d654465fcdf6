"""Latency percentiles in bounded memory: a log-linear histogram of nanosecond values.

Values below 64 ns get a bucket each; above, every power of two is split into 32 buckets,
so a percentile is within about 3% of the true value (the maximum is exact). The
histogram is a fixed list of counts (1920, enough for any 64-bit value) whatever
the run's length, and two merge cheaply (an interval's into the run's).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate
from operator import add
from typing import Optional

SUB_BITS = 5
_LINEAR = 1 << (SUB_BITS + 1)  # values below this have a bucket each
MAX_BITS = 64  # any 64-bit nanosecond value has a bucket: the receive path never clamps
BUCKETS = ((MAX_BITS - SUB_BITS - 1) << SUB_BITS) + _LINEAR  # 1920
PERCENTILES = (50, 90, 99)


_bit_length = int.bit_length  # a value that is no integer is a TypeError, as in the C kernel


def bucket_of(value: int) -> int:
    """The bucket index of a value in [0, 2**64) (see `bucket_bounds`)."""
    shift = _bit_length(value) - SUB_BITS - 1
    if shift <= 0:
        return value
    return (shift << SUB_BITS) + (value >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The smallest and largest value that land in bucket `index`."""
    if index < _LINEAR:
        return index, index
    shift = (index >> SUB_BITS) - 1
    mantissa = index - (shift << SUB_BITS)
    return mantissa << shift, ((mantissa + 1) << shift) - 1


@dataclass(frozen=True)
class Percentiles:
    """p50/p90/p99/max of a set of values, in nanoseconds, and how many there were."""

    count: int
    p50: int
    p90: int
    p99: int
    max: int

    def as_ms(self) -> dict[str, float]:
        """The JSON form: {p50, p90, p99, max} in milliseconds."""
        return {k: round(getattr(self, k) / 1e6, 6) for k in ("p50", "p90", "p99", "max")}


class Histogram:
    """Counts per bucket, the exact maximum and the exact sum of the values (Prometheus'
    _sum: the mean is _sum / _count); the number of values is summed from the counts when
    asked for: the receive path only indexes a bucket. The compiled counting kernel keeps
    the same buckets and sum in C (csrc/counting.c) and hands out these objects."""

    __slots__ = ("counts", "max", "sum")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.max = 0
        self.sum = 0  # nanoseconds, unbounded (a hostile send time can make each ~2**64)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def add(self, value: int) -> None:
        """Count one value; negative values (clocks out of step) count as 0."""
        if value < 0:
            value = 0
        # bucket_of, inlined: this runs for every datagram (the application latency)
        shift = _bit_length(value) - SUB_BITS - 1
        self.counts[value if shift <= 0 else (shift << SUB_BITS) + (value >> shift)] += 1
        self.sum += value
        if value > self.max:
            self.max = value

    def merge(self, other: Histogram) -> None:
        """Add `other`'s counts (and sum) to these."""
        self.counts = list(map(add, self.counts, other.counts))
        self.sum += other.sum
        if other.max > self.max:
            self.max = other.max

    def percentiles(self, also: Optional[Histogram] = None) -> Optional[Percentiles]:
        """p50/p90/p99 (each the middle of its bucket, capped at the maximum) and the
        maximum, over these values and `also`'s; None when there are none.

        Display frames call this several times a second on the receive thread, so the
        work is C-level passes over the buckets (accumulate, bisect), not a Python loop.
        """
        top = self.max
        if also is not None and also.max > top:
            top = also.max
        end = bucket_of(top) + 1  # no value lies above the maximum's bucket
        counts = self.counts[:end]
        if also is not None:
            counts = list(map(add, counts, also.counts[:end]))
        cumulative = list(accumulate(counts))
        total = cumulative[-1]
        if not total:
            return None
        out = []
        for p in PERCENTILES:
            rank = max(1, -(-total * p // 100))  # nearest rank
            lo, hi = bucket_bounds(bisect_left(cumulative, rank))
            out.append(min((lo + hi) // 2, top))
        return Percentiles(total, out[0], out[1], out[2], top)
