"""Deadline-based pacing: datagram i is due at t0 + i / rate.

Sleeping once per datagram cannot pace at tens of thousands per second (a sleep
overshoots by tens of microseconds), so the pacer never asks for a sleep per datagram: it
says how many datagrams are due *now* and the sender sends that batch back to back. A
late wake-up simply makes the next batch larger, so the average rate over a run is exact
to within one datagram, whatever the scheduler does. The clock is passed in, so tests
drive it without real time.
"""

from __future__ import annotations

import math
from typing import Callable


class Pacer:
    """How many datagrams may go now, and how long to wait when none may."""

    def __init__(
        self, rate: float, clock: Callable[[], float], max_batch: int = 256
    ) -> None:
        if rate < 0:
            raise ValueError("rate must be >= 0")
        self.rate = rate
        self.clock = clock
        self.max_batch = max_batch
        self.t0 = clock()

    def due(self, sent: int) -> tuple[int, float]:
        """(datagrams to send now, seconds to wait first when that is 0).

        `sent` counts datagrams already sent. With rate 0 everything is due at once, in
        batches of `max_batch` so the caller still checks for a stop between them.
        """
        if self.rate == 0:
            return self.max_batch, 0.0
        elapsed = self.clock() - self.t0
        # Datagram i (0-based) is due at i / rate: floor(elapsed * rate) + 1 are due. The
        # epsilon absorbs float rounding at a deadline (else a wake-up exactly on time
        # could compute a zero wait forever).
        allowed = int(elapsed * self.rate + 1e-6) + 1 - sent
        if allowed > 0:
            return min(allowed, self.max_batch), 0.0
        return 0, sent / self.rate - elapsed

    def owed(self, sent: int, until: float) -> int:
        """Datagrams due strictly before `until` and not yet sent: what a run that ends
        at `until` still owes (a late wake-up must not cost the last datagrams)."""
        if self.rate == 0:
            return 0
        total = math.ceil((until - self.t0) * self.rate - 1e-6)
        return max(0, total - sent)
