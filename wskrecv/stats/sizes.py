"""Datagram sizes: minimum, mean, maximum and a power-of-two histogram."""

from __future__ import annotations

from dataclasses import dataclass

# Bucket b holds sizes whose bit length is b: [2**(b-1), 2**b - 1]; bucket 0 holds 0.
# 17 bits cover the largest UDP payload (65535).
SIZE_BUCKETS = 18


def size_bounds(bucket: int) -> tuple[int, int]:
    """The smallest and largest size in histogram bucket `bucket`."""
    if bucket == 0:
        return 0, 0
    return 1 << (bucket - 1), (1 << bucket) - 1


@dataclass(frozen=True)
class SizeStats:
    """Sizes of the datagrams received (bytes as received, after any truncation)."""

    count: int
    min: int
    max: int
    total: int
    histogram: tuple[int, ...]  # counts per bucket, see size_bounds

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def buckets(self) -> list[tuple[int, int, int]]:
        """(smallest, largest, count) of every non-empty bucket, smallest sizes first."""
        return [(*size_bounds(b), c) for b, c in enumerate(self.histogram) if c]

    def as_dict(self) -> dict[str, object]:
        """The JSON form."""
        return {
            "min": self.min,
            "avg": round(self.mean, 1),
            "max": self.max,
            "histogram": [{"min": lo, "max": hi, "count": c} for lo, hi, c in self.buckets()],
        }
