"""A datagram socket's counters and their frozen snapshot (trio's `statistics()`).

`SocketCounts` is the mutable tally the socket and its event dispatcher keep on the hot
path; `SocketStatistics` is what everybody else reads: `WskDatagramSocket.statistics()`
freezes the counts together with the queue lengths and the buffer pool at one instant.
All counts are datagrams unless named otherwise, and always add up:

    received == completions + consumed + released + dropped + leaked + discarded
                + held + kept + backlog + indicating
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


class SocketCounts:
    """The running counts (see the module docstring for how they add up)."""

    __slots__ = (
        "received",  # datagrams the provider delivered
        "completions",  # WskReceiveFrom requests completed with a datagram
        "cancellations",  # requests completed with STATUS_CANCELLED
        "failures",  # requests completed with a failure status
        "discarded",  # delivered but never handed over (the socket closed first)
        "callbacks",  # WskReceiveFromEvent calls with a list (not the NULL one)
        "indicated",  # datagrams in those lists, re-indications included
        "consumed",  # in lists the callback returned STATUS_SUCCESS for
        "pended",  # callbacks that returned STATUS_PENDING
        "rejected",  # callbacks that returned STATUS_DATA_NOT_ACCEPTED
        "dropped",  # not accepted under static callbacks: not kept, not indicated again
        "released",  # given back with WskRelease (inside the callback or later)
        "released_in_callback",  # ... of them, released while their list was indicated
        "held",  # retained by the application now
        "leaked",  # still retained when the socket closed
        "indicating",  # inside the callback right now
        "null_indications",  # NULL indications (the socket no longer works)
        "in_flight",  # delivered and not finished with: in the provider or the application
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)


@dataclass(frozen=True)
class SocketStatistics:
    """One datagram socket at one instant (`WskDatagramSocket.statistics()`)."""

    received: int
    completions: int
    cancellations: int
    failures: int
    discarded: int
    callbacks: int
    indicated: int
    consumed: int
    pended: int
    rejected: int
    dropped: int
    released: int
    released_in_callback: int
    held: int
    leaked: int
    indicating: int
    null_indications: int
    in_flight: int
    outstanding: int  # WskReceiveFrom requests posted and not completed
    backlog: int  # delivered, waiting for a request or the callback
    kept: int  # after STATUS_DATA_NOT_ACCEPTED, to be indicated again
    event_enabled: bool  # WskReceiveFromEvent would be called now
    pool_in_use: int
    pool_high_water: int
    pool_capacity: Optional[int]

    @property
    def mean_list_length(self) -> float:
        """Datagrams per WskReceiveFromEvent call."""
        return self.indicated / self.callbacks if self.callbacks else 0.0

    def accounting(self) -> dict[str, int]:
        """Where every delivered datagram is now; the values add up to `received`."""
        return {
            "completions": self.completions,
            "consumed": self.consumed,
            "released": self.released,
            "dropped": self.dropped,
            "leaked": self.leaked,
            "discarded": self.discarded,
            "held": self.held,
            "kept": self.kept,
            "backlog": self.backlog,
            "indicating": self.indicating,
        }


__all__ = ["SocketCounts", "SocketStatistics"]
