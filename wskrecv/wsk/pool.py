"""The provider's bounded pool of indication buffers, counted in datagrams.

Every datagram the socket indicates to its WskReceiveFromEvent callback sits in one pool
buffer until the provider gets it back: at once when the callback returns STATUS_SUCCESS,
when the application calls WskRelease after STATUS_PENDING, or when a kept
(STATUS_DATA_NOT_ACCEPTED) datagram is finally consumed. While the pool is exhausted the
socket's `demand()` is 0, so the provider stops reading the OS socket: its queue fills and
the kernel drops, which is the real cost of holding indications too long.
"""

from __future__ import annotations

from typing import Optional


class BufferPool:
    """`capacity` buffers (None: unbounded); `in_use` and its `high_water` mark."""

    __slots__ = ("capacity", "in_use", "high_water")

    def __init__(self, capacity: Optional[int] = None) -> None:
        if capacity is not None and capacity < 1:
            raise ValueError("a buffer pool needs at least one buffer")
        self.capacity = capacity
        self.in_use = 0
        self.high_water = 0

    @property
    def free(self) -> int:
        """Buffers available now (a large number for an unbounded pool)."""
        if self.capacity is None:
            return 1 << 30
        return max(self.capacity - self.in_use, 0)

    @property
    def exhausted(self) -> bool:
        return self.capacity is not None and self.in_use >= self.capacity

    def take(self, n: int) -> None:
        """Hand out `n` buffers (the caller checked `free`)."""
        self.in_use += n
        if self.in_use > self.high_water:
            self.high_water = self.in_use

    def give(self, n: int) -> None:
        """Take `n` buffers back."""
        self.in_use -= n

    def __repr__(self) -> str:
        cap = "unbounded" if self.capacity is None else self.capacity
        return f"<BufferPool {self.in_use}/{cap} high water {self.high_water}>"
