"""What the receiver applications share: the interface the runner drives, and the
bookkeeping every WSK client does (its socket, its recorder, stopping, failures)."""

from __future__ import annotations

from typing import Any, Optional, Protocol

from wskrecv.stats.recorder import Recorder
from wskrecv.wsk.socket import WskDatagramSocket
from wskrecv.wsk.status import status_name
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


class ReceiverBase:
    """A WSK client application bound to one socket, recording into one recorder."""

    mode = "base"

    def __init__(self, sock: WskDatagramSocket, recorder: Recorder) -> None:
        self.sock = sock
        self.recorder = recorder
        self.stopping = False
        self.failed = 0
        self.last_failure: Optional[int] = None

    def note_failure(self, status: int) -> None:
        """A WSK call or request failed with `status` (reported in the summary)."""
        self.failed += 1
        self.last_failure = status

    def failure_stats(self) -> dict[str, Any]:
        """`last_failure` for the snapshot, when something failed."""
        if self.last_failure is None:
            return {}
        return {"last_failure": status_name(self.last_failure)}

    def close_socket(self) -> None:
        """WskCloseSocket, once."""
        if not self.sock.closed:
            self.sock.close()
