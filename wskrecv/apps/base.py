"""What the receiver applications share: the interface the runner drives."""

from __future__ import annotations

from typing import Any, Optional, Protocol

from wskrecv.wsk.types import ControlMessage, PacketInfo, ReceiveTimestamp


class Receiver(Protocol):
    """A WSK client application the runner starts, drives through its socket, and stops."""

    mode: str

    def start(self) -> None:
        """Post receives / enable callbacks: begin receiving."""

    def stop(self) -> None:
        """Stop receiving and close the socket (cancelling what is outstanding)."""

    def mode_stats(self) -> dict[str, Any]:
        """The style's own counters for snapshots (JSON field names)."""
        ...


def control_timestamp(control: list[ControlMessage]) -> Optional[int]:
    """The kernel receive timestamp among a datagram's control messages, if present."""
    for msg in control:
        if type(msg) is ReceiveTimestamp:
            return msg.ns
    return None


def control_local(control: list[ControlMessage]) -> Optional[str]:
    """The datagram's local (destination) address from IN_PKTINFO/IN6_PKTINFO, if present."""
    for msg in control:
        if type(msg) is PacketInfo:
            return msg.address
    return None
