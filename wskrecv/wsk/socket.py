"""A WSK datagram socket: the provider side of WskReceiveFrom and WskCloseSocket.

Sans-I/O: the real socket lives in `wskrecv.provider`. The provider asks `demand()` how
many datagrams the socket can take, reads at most that many from the OS, and hands them to
`deliver()`; the socket completes pending receive IRPs in FIFO order and runs their
completion routines. Nothing here reads a clock, a socket or a thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from enum import Enum
from typing import Any, Optional

from wskrecv.wsk._state import IrpEvent
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.irp import Irp, io_complete_request
from wskrecv.wsk.status import (
    AF_INET,
    AF_INET6,
    MSG_CTRUNC,
    MSG_TRUNC,
    NTSTATUS,
    STATUS_CANCELLED,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_INVALID_PARAMETER,
    STATUS_PENDING,
    STATUS_SUCCESS,
)
from wskrecv.wsk.types import SockAddr, ULongRef, WskBuf, build_control
from wskrecv.wsk.verifier import Verifier

# Plain ints on the hot path: IntFlag arithmetic costs several times more.
_MSG_TRUNC = int(MSG_TRUNC)
_MSG_CTRUNC = int(MSG_CTRUNC)


class SocketState(Enum):
    CREATED = "created"
    BOUND = "bound"
    CLOSING = "closing"  # WskCloseSocket is cancelling outstanding requests
    CLOSED = "closed"


class _NoLock:
    """Stands in for a lock when the socket is driven from a single thread."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class WskDatagramSocket:
    """WSK_FLAG_DATAGRAM_SOCKET with the receive side of WSK_PROVIDER_DATAGRAM_DISPATCH."""

    def __init__(
        self, family: int = AF_INET, verifier: Optional[Verifier] = None, lock: Any = None
    ) -> None:
        self.family = family
        self.verifier = verifier if verifier is not None else Verifier()
        self.lock = lock if lock is not None else _NoLock()
        self.state = SocketState.CREATED
        self.local_address: Optional[tuple] = None
        self._requests: deque[Irp] = deque()  # posted WskReceiveFrom IRPs, oldest first
        self._backlog: deque[Datagram] = deque()  # delivered, not yet handed to the app
        self.completions = 0
        self.cancellations = 0
        self.failures = 0
        self.discarded = 0  # delivered but never handed over (socket closed first)

    # -- application side -------------------------------------------------------------

    def bind(self, local_address: tuple) -> NTSTATUS:
        """WskBind: record the local transport address (the provider did the real bind)."""
        self._check_open("WskBind")
        self.local_address = local_address
        self.family = AF_INET6 if len(local_address) > 2 else AF_INET
        self.state = SocketState.BOUND
        return STATUS_SUCCESS

    def receive_from(
        self,
        buf: WskBuf,
        flags: int,
        remote_address: Optional[SockAddr],
        control_length: Optional[ULongRef],
        control_info: Optional[list],
        control_flags: Optional[ULongRef],
        irp: Irp,
    ) -> NTSTATUS:
        """WskReceiveFrom: post a receive. Returns STATUS_PENDING or a failure status.

        Every path completes the IRP: a bad request completes it at once with
        STATUS_INVALID_PARAMETER (the completion routine runs before this returns).
        """
        irp.verifier = self.verifier
        self._check_open("WskReceiveFrom")
        irp.transition(IrpEvent.SUBMIT)
        if self.state is SocketState.CLOSING:
            io_complete_request(irp, STATUS_FILE_FORCED_CLOSED)
            return STATUS_FILE_FORCED_CLOSED
        if flags != 0 or not buf.is_valid():
            self.failures += 1
            io_complete_request(irp, STATUS_INVALID_PARAMETER)
            return STATUS_INVALID_PARAMETER
        irp.request = (buf, remote_address, control_length, control_info, control_flags)
        irp.cancel_routine = self._cancel_receive
        self._requests.append(irp)
        return STATUS_PENDING

    def close(self) -> NTSTATUS:
        """WskCloseSocket: cancel every outstanding request (FIFO), then close."""
        self._check_open("WskCloseSocket")
        self.state = SocketState.CLOSING
        while self._requests:
            irp = self._requests.popleft()
            self.cancellations += 1
            io_complete_request(irp, STATUS_CANCELLED)
        self.discarded += len(self._backlog)
        self._backlog.clear()
        self.state = SocketState.CLOSED
        return STATUS_SUCCESS

    # -- provider side ----------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Receive IRPs posted and not yet completed."""
        return len(self._requests)

    @property
    def closed(self) -> bool:
        return self.state in (SocketState.CLOSING, SocketState.CLOSED)

    def demand(self) -> int:
        """How many more datagrams the socket can take now (0: leave them in the OS)."""
        if self.state is not SocketState.BOUND:
            return 0
        return max(len(self._requests) - len(self._backlog), 0)

    def deliver(self, datagrams: Iterable[Datagram]) -> None:
        """Hand over datagrams read from the OS; pending receives complete in FIFO order."""
        self._backlog.extend(datagrams)
        self._pump()

    def fail(self, status: int = STATUS_FILE_FORCED_CLOSED) -> None:
        """The OS socket broke: complete every outstanding receive with `status`."""
        while self._requests:
            irp = self._requests.popleft()
            self.failures += 1
            io_complete_request(irp, status)

    # -- internals --------------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self.state is SocketState.CLOSED:
            raise self.verifier.record("SocketClosed", f"{what} after WskCloseSocket")

    def _pump(self) -> None:
        requests = self._requests
        backlog = self._backlog
        while requests and backlog:
            self._complete_receive(requests.popleft(), backlog.popleft())

    def _complete_receive(self, irp: Irp, dgram: Datagram) -> None:
        buf, remote_address, control_length, control_info, control_flags = irp.request
        data = dgram[0]
        n = len(data)
        flags = 0
        if n > buf.length:
            n = buf.length
            flags = _MSG_TRUNC
            buf.mdl[buf.offset : buf.offset + n] = data[:n]
        else:
            buf.mdl[buf.offset : buf.offset + n] = data
        if remote_address is not None:
            remote_address.set(dgram[1])
        if control_length is not None:
            if control_info is None:
                control_length.value = 0
            else:
                msgs, used, ctrunc = build_control(
                    dgram[2], self.family, dgram[3], control_length.value
                )
                control_info[:] = msgs
                control_length.value = used
                if ctrunc:
                    flags |= _MSG_CTRUNC
        if control_flags is not None:
            control_flags.value = flags
        self.completions += 1
        io_complete_request(irp, STATUS_SUCCESS, n)

    def _cancel_receive(self, irp: Irp) -> None:
        try:
            self._requests.remove(irp)
        except ValueError:  # already being completed
            return
        self.cancellations += 1
        io_complete_request(irp, STATUS_CANCELLED)
