"""The IRP-style client of `wskrecv listen`, shaped like the classic WSK sample.

N contexts, each owning an IRP, a WSK_BUF, a SOCKADDR and its ControlFlags. Each completion
routine notes its ControlFlags, reuses the IRP (IoReuseIrp, which clears the completion
routine: it is set again before every WskReceiveFrom, as msquic's kernel datapath does)
and posts the next WskReceiveFrom. Stopping closes the socket (which cancels what is
posted) and frees every IRP.

What can go wrong is handled as a driver must (and `--inject` checks it):
- IoAllocateIrp may return NULL: a context without an IRP is not made; the client asks
  again, a bounded number of times, and runs with the IRPs it got;
- a request that completes with a failure (STATUS_INSUFFICIENT_RESOURCES, an unreachable
  port...) or that someone else cancelled is noted and posted again: it was one request,
  not the socket;
- STATUS_CANCELLED while stopping is WskCloseSocket's: nothing more to do;
- STATUS_FILE_FORCED_CLOSED means the socket no longer works: the client closes it at
  once (PFN_WSK_RECEIVE_FROM: "as soon as possible") and posts nothing more.

The host counts each completed receive (the socket's tap, as for any `wskrecv run`
client), so the routine asks for no control information: it does nothing with it.
"""

from __future__ import annotations

from typing import Any

from wskrecv.builtin.base import BuiltinClient
from wskrecv.client import (
    MSG_BCAST,
    MSG_MCAST,
    STATUS_CANCELLED,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_SUCCESS,
    IoAllocateIrp,
    IoFreeIrp,
    IoReuseIrp,
    IoSetCompletionRoutine,
    Irp,
    SockAddr,
    SocketStatistics,
    ULongRef,
    WskBuf,
    WskDatagramSocket,
    WskReceiveFrom,
)
from wskrecv.stats.modes import IrpStatistics

# Plain ints: IntFlag's `&` runs Python code, and this test runs for every datagram.
_MSG_BCAST = int(MSG_BCAST)
_CAST = _MSG_BCAST | int(MSG_MCAST)


# IoAllocateIrp calls the client makes for its N IRPs at most (NULLs included) before it
# runs with what it got: a few failures are retried, a persistent shortage is not.
def allocation_attempts(outstanding: int) -> int:
    return outstanding * 2 + 8


class ReceiveContext:
    """One outstanding receive: the IRP and the buffers its WskReceiveFrom writes."""

    __slots__ = ("irp", "buf", "remote", "control_flags")

    def __init__(self, irp: Irp, buffer_size: int) -> None:
        self.irp = irp
        self.buf = WskBuf(bytearray(buffer_size), 0, buffer_size)
        self.remote = SockAddr()
        self.control_flags = ULongRef()


class IrpClient(BuiltinClient):
    """Keeps `outstanding` WskReceiveFrom requests posted on its socket."""

    mode = "irp"

    def __init__(self, outstanding: int = 64, buffer_size: int = 65535) -> None:
        super().__init__()
        self.contexts: list[ReceiveContext] = []
        for _ in range(allocation_attempts(outstanding)):
            if len(self.contexts) == outstanding:
                break
            irp = IoAllocateIrp()
            if irp is not None:  # NULL: no IRP this time (low resources)
                self.contexts.append(ReceiveContext(irp, buffer_size))
        self.broadcast = 0  # completions whose ControlFlags had MSG_BCAST
        self.multicast = 0  # ... MSG_MCAST

    def start(self, socket: WskDatagramSocket) -> None:
        super().start(socket)
        for ctx in self.contexts:
            self._post(ctx)

    def stop(self) -> None:
        """WskCloseSocket cancels every outstanding IRP; then free them."""
        super().stop()
        self.close_socket()
        for ctx in self.contexts:
            IoFreeIrp(ctx.irp)

    def statistics(self, counts: SocketStatistics) -> IrpStatistics:
        return IrpStatistics.from_socket(
            counts, failures=self.failed, broadcast=self.broadcast,
            multicast=self.multicast, last_failure=self.failure_name(),
        )

    def _post(self, ctx: ReceiveContext) -> None:
        # A fresh or reused IRP has no completion routine: set it for every request.
        IoSetCompletionRoutine(ctx.irp, self._on_receive_complete, ctx)
        WskReceiveFrom(self.sock, ctx.buf, 0, ctx.remote, None, None, ctx.control_flags, ctx.irp)

    def _on_receive_complete(self, _device: Any, irp: Irp, ctx: ReceiveContext) -> int:
        status = irp.io_status.status
        if status == STATUS_SUCCESS:
            flags = ctx.control_flags.value
            if flags & _CAST:
                if flags & _MSG_BCAST:
                    self.broadcast += 1
                else:
                    self.multicast += 1
        elif status == STATUS_FILE_FORCED_CLOSED:  # the socket no longer works: close it
            self.note_failure(status)
            self.close_socket()
            return STATUS_MORE_PROCESSING_REQUIRED
        elif status != STATUS_CANCELLED:  # this request failed, not the socket
            self.note_failure(status)
        # Cancelled while stopping: WskCloseSocket's (counted there). Cancelled otherwise,
        # failed or done: post again.
        if not self.stopping and not self.sock.closed:
            IoReuseIrp(irp, STATUS_SUCCESS)
            self._post(ctx)
        # The IRP is ours (we allocated it): stop the I/O manager from freeing it.
        return STATUS_MORE_PROCESSING_REQUIRED


__all__ = ["IrpClient", "ReceiveContext"]
