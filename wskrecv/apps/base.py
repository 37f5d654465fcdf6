"""What the receiver applications share: the interface the runner drives, and the
bookkeeping every WSK client does (its socket, its recorder, stopping, failures)."""

from __future__ import annotations

from typing import Callable, Optional, Protocol

from wskrecv.client import (
    AF_INET6,
    IP_PKTINFO,
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPV6_PKTINFO,
    NT_SUCCESS,
    SIO_TIMESTAMPING,
    SOL_SOCKET,
    TIMESTAMPING_FLAG_RX,
    TimestampingConfig,
    WskCloseSocket,
    WskControlSocket,
    WskDatagramSocket,
    WskIoctl,
    WskSetOption,
    status_name,
)
from wskrecv.stats.modes import ModeStatistics
from wskrecv.stats.recorder import Recorder


class Receiver(Protocol):
    """A WSK client application the runner starts, drives through its socket, and stops."""

    mode: str
    # Set by the runner: told about an exception on the application's own threads.
    on_thread_fault: Optional[Callable[[BaseException], None]]

    def start(self) -> None:
        """Post receives / enable callbacks: begin receiving."""

    def stop(self) -> None:
        """Stop receiving and close the socket (cancelling what is outstanding)."""

    def statistics(self) -> ModeStatistics:
        """The style's own statistics for snapshots (a frozen, typed record)."""
        ...


def enable_control(app: ReceiverBase, pktinfo: bool, timestamps: bool) -> None:
    """Ask for the control information the application uses ("Winsock timestamping":
    SIO_TIMESTAMPING with TIMESTAMPING_FLAG_RX; IP_PKTINFO / IPV6_PKTINFO): a datagram
    carries none unless asked. A failure is noted, not fatal."""
    sock = app.sock
    if timestamps:
        config = TimestampingConfig(flags=TIMESTAMPING_FLAG_RX)
        status = WskControlSocket(sock, WskIoctl, SIO_TIMESTAMPING, SOL_SOCKET, config)
        if not NT_SUCCESS(status):
            app.note_failure(status)
    if pktinfo:
        if sock.family == AF_INET6:
            status = WskControlSocket(sock, WskSetOption, IPV6_PKTINFO, IPPROTO_IPV6, 1)
        else:
            status = WskControlSocket(sock, WskSetOption, IP_PKTINFO, IPPROTO_IP, 1)
        if not NT_SUCCESS(status):
            app.note_failure(status)


class ReceiverBase:
    """A WSK client application bound to one socket, recording into one recorder."""

    mode = "base"

    def __init__(self, sock: WskDatagramSocket, recorder: Recorder) -> None:
        self.sock = sock
        self.recorder = recorder
        self.stopping = False
        self.failed = 0
        self.last_failure: Optional[int] = None
        # Told about an exception on one of the application's own threads (a work item):
        # the runner sets it, and ends the run with exit 1 and the summary.
        self.on_thread_fault: Optional[Callable[[BaseException], None]] = None

    def fault(self, exc: BaseException) -> None:
        """An exception on the application's worker thread: pass it to the runner."""
        if self.on_thread_fault is not None:
            self.on_thread_fault(exc)

    def note_failure(self, status: int) -> None:
        """A WSK call or request failed with `status` (reported in the summary)."""
        self.failed += 1
        self.last_failure = status

    def failure_name(self) -> Optional[str]:
        """The last failure's status, by name, when something failed."""
        return None if self.last_failure is None else status_name(self.last_failure)

    def close_socket(self) -> None:
        """WskCloseSocket, once."""
        if not self.sock.closed:
            WskCloseSocket(self.sock)
