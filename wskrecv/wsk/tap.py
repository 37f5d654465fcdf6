"""What counts the datagrams a client accepted: the socket's `tap` (wskrecv run's host and
the commands set one; the model itself counts nothing)."""

from __future__ import annotations

from typing import Protocol

from wskrecv.wsk.datagram import Datagram


class Tap(Protocol):
    """Sees every datagram the client accepted, once. Called with the socket's lock held,
    before a completion routine runs and after a receive callback returned (or raised);
    never for datagrams it rejected (those are counted when they are indicated again and
    accepted, or drained into an IRP)."""

    def completed(self, dgram: Datagram, length: int, truncated: bool) -> None:
        """An IRP completed with `dgram`, `length` bytes of it copied."""

    def accepted(self, dgrams: list[Datagram]) -> None:
        """A receive callback accepted (or released inside the call) `dgrams`."""


__all__ = ["Tap"]
