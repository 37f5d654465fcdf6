"""The provider's bounded pool of indication buffers, counted in datagrams.

Every datagram the socket indicates to its WskReceiveFromEvent callback sits in one pool
buffer until the provider gets it back: at once when the callback returns STATUS_SUCCESS,
when the application calls WskRelease after STATUS_PENDING, or when a kept
(STATUS_DATA_NOT_ACCEPTED) datagram is finally consumed. While the pool is exhausted the
socket's `demand()` is 0, so the provider stops reading the OS socket: its queue fills and
the kernel drops, which is the real cost of holding indications too long.

`starve` is pool pressure from elsewhere (fault injection's no-buffers): no buffer is free
until some come back, that is until the application gives one back (`give`) or the
provider gets its own back (`feed`).
"""

from __future__ import annotations

from typing import Optional


class BufferPool:
    """`capacity` buffers (None: unbounded); `in_use` and its `high_water` mark."""

    __slots__ = ("capacity", "in_use", "high_water", "starved", "refilled")

    def __init__(self, capacity: Optional[int] = None) -> None:
        if capacity is not None and capacity < 1:
            raise ValueError("a buffer pool needs at least one buffer")
        self.capacity = capacity
        self.in_use = 0
        self.high_water = 0
        self.starved = False  # no buffer free until some come back (`starve`)
        self.refilled = False  # a starvation just ended (fault injection reads and clears it)

    @property
    def free(self) -> int:
        """Buffers available now (a large number for an unbounded pool)."""
        if self.starved:
            return 0
        if self.capacity is None:
            return 1 << 30
        return max(self.capacity - self.in_use, 0)

    @property
    def exhausted(self) -> bool:
        return self.starved or self.capacity is not None and self.in_use >= self.capacity

    def take(self, n: int) -> None:
        """Hand out `n` buffers (the caller checked `free`)."""
        self.in_use += n
        if self.in_use > self.high_water:
            self.high_water = self.in_use

    def give(self, n: int) -> None:
        """Take `n` buffers back (a starved pool has buffers again)."""
        self.in_use -= n
        if self.starved:
            self.starved = False
            self.refilled = True

    def starve(self) -> None:
        """Every free buffer is taken elsewhere: none is free until some come back."""
        self.starved = True

    def feed(self) -> None:
        """The buffers taken elsewhere came back."""
        if self.starved:
            self.starved = False
            self.refilled = True

    def __repr__(self) -> str:
        cap = "unbounded" if self.capacity is None else self.capacity
        return f"<BufferPool {self.in_use}/{cap} high water {self.high_water}>"
