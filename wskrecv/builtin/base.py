"""What the built-in clients share.

`wskrecv listen` and `wskrecv event` run two WSK clients wskrecv ships (irp.py, event.py),
hosted exactly as `wskrecv run` hosts yours (wskrecv.hosting.host.ClientHost): the host
creates the socket with the client's `dispatch`, calls `start(socket)`, counts every
datagram the client accepts (the socket's tap), and calls `stop()` at the end. A built-in
client adds one hook a user's client does not need: `statistics(counts)`, its style's
typed statistics from the socket's counts (a `run` client gets the generic ones).
"""

from __future__ import annotations

from typing import Callable, Optional

from wskrecv.client import (
    NT_SUCCESS,
    SocketStatistics,
    WskCloseSocket,
    WskDatagramSocket,
    status_name,
)
from wskrecv.stats.modes import ModeStatistics


class BuiltinClient:
    """A WSK client wskrecv ships: the bookkeeping every one does (its socket, stopping,
    failures, faults on its own threads)."""

    mode = "base"
    dispatch = None  # WSK_CLIENT_DATAGRAM_DISPATCH: none (the IRP style)

    def __init__(self) -> None:
        self.sock: WskDatagramSocket  # given to start()
        self.stopping = False
        self.failed = 0
        self.last_failure: Optional[int] = None
        # Told about an exception on one of the client's own threads (a work item): the
        # host passes the runner's, which ends the run with exit 1 and the summary.
        self.on_thread_fault: Optional[Callable[[BaseException], None]] = None

    def start(self, socket: WskDatagramSocket) -> None:
        """The socket is created and bound."""
        self.sock = socket

    def stop(self) -> None:
        """The run is over."""
        self.stopping = True

    def statistics(self, counts: SocketStatistics) -> ModeStatistics:
        """The style's statistics from the socket's counts and the client's own."""
        raise NotImplementedError

    def fault(self, exc: BaseException) -> None:
        """An exception on the client's worker thread: pass it to the runner."""
        if self.on_thread_fault is not None:
            self.on_thread_fault(exc)

    def check(self, status: int) -> None:
        """Note `status` when a WSK call failed with it."""
        if not NT_SUCCESS(status):
            self.note_failure(status)

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
