"""An in-memory provider: a bounded queue standing in for the OS socket, for tests."""

from __future__ import annotations

from collections import deque
from typing import Optional

from wskrecv.wsk.datagram import Datagram


class MemoryProvider:
    """Datagrams pushed with `push` wait here until the receive loop reads them.

    `capacity` bounds the queue like SO_RCVBUF: pushes beyond it are counted as kernel
    drops, so tests can exercise the drop path without a network.
    """

    def __init__(self, local_address: tuple = ("127.0.0.1", 9), capacity: int = 1 << 20):
        self.local_address = local_address
        self.capacity = capacity
        self.queue: deque[Datagram] = deque()
        self.kernel_drops = 0
        self.drops_at_last_read = 0  # kernel_drops when the last datagram read was queued
        self.inherited_fd = None
        self.drops_before_run: Optional[int] = None  # never inherited: no drops before the run
        self.rcvbuf = capacity
        self.closed = False

    def push(
        self,
        data: bytes,
        remote: tuple = ("127.0.0.1", 40000),
        local: Optional[tuple[str, int]] = ("127.0.0.1", 1),
        timestamp_ns: Optional[int] = None,
    ) -> bool:
        """Queue one datagram; False (and a drop counted) when the queue is full."""
        if len(self.queue) >= self.capacity:
            self.kernel_drops += 1
            return False
        self.queue.append(Datagram(data, remote, local, timestamp_ns))
        return True

    def pending(self) -> int:
        return len(self.queue)

    def read(self, max_n: int) -> list[Datagram]:
        """Take up to `max_n` queued datagrams, oldest first."""
        q = self.queue
        got = [q.popleft() for _ in range(min(max_n, len(q)))]
        if got:
            self.drops_at_last_read = self.kernel_drops  # pushes drop only when full
        return got

    def drain(self, seconds: float) -> tuple[int, bool]:
        """Discard what is queued, unread: (datagrams, True)."""
        n = len(self.queue)
        self.queue.clear()
        return n, True

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        self.closed = True
