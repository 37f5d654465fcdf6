"""The IRP-style receiver (`wskrecv listen`), shaped like the classic WSK sample.

N contexts, each owning an IRP, a WSK_BUF, a SOCKADDR and a control buffer. Each completion
routine records its datagram, reuses the IRP (IoReuseIrp, which clears the completion
routine: it is set again before every WskReceiveFrom, as msquic's kernel datapath does)
and posts the next WskReceiveFrom; on cancellation or failure it stops reposting.

Control information comes only on request: the application turns on receive timestamps
(SIO_TIMESTAMPING) for its latency figures, and IP_PKTINFO / IPV6_PKTINFO only when the
destination address is wanted (--dump, --pcap).
"""

from __future__ import annotations

from typing import Any

from wskrecv.apps.base import ReceiverBase, enable_control
from wskrecv.client import (
    CMSG_SPACE,
    MSG_BCAST,
    MSG_MCAST,
    MSG_TRUNC,
    STATUS_CANCELLED,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_SUCCESS,
    IoAllocateIrp,
    IoFreeIrp,
    IoReuseIrp,
    IoSetCompletionRoutine,
    Irp,
    SockAddr,
    ULongRef,
    WskBuf,
    WskDatagramSocket,
    WskReceiveFrom,
    control_local,
    control_timestamp,
)
from wskrecv.stats.modes import IrpStatistics
from wskrecv.stats.recorder import Recorder

# A plain int: IntFlag's `&` runs Python code, and this test runs for every datagram.
_MSG_TRUNC = int(MSG_TRUNC)
_MSG_BCAST = int(MSG_BCAST)
_MSG_MCAST = int(MSG_MCAST)
_CAST = _MSG_BCAST | _MSG_MCAST

# Room for IN6_PKTINFO (the larger) and SO_TIMESTAMP.
CONTROL_SPACE = CMSG_SPACE(20) + CMSG_SPACE(8)


class ReceiveContext:
    """One outstanding receive: the IRP and the buffers its WskReceiveFrom writes."""

    __slots__ = ("irp", "buf", "remote", "control_length", "control_info", "control_flags")

    def __init__(self, buffer_size: int) -> None:
        self.irp = IoAllocateIrp()
        self.buf = WskBuf(bytearray(buffer_size), 0, buffer_size)
        self.remote = SockAddr()
        self.control_length = ULongRef(CONTROL_SPACE)
        self.control_info: list = []
        self.control_flags = ULongRef()


class IrpReceiver(ReceiverBase):
    """Keeps `outstanding` WskReceiveFrom requests posted on `sock`."""

    mode = "irp"

    def __init__(
        self,
        sock: WskDatagramSocket,
        recorder: Recorder,
        outstanding: int = 1,
        buffer_size: int = 65535,
        control: bool = True,
        want_local: bool = False,
    ) -> None:
        super().__init__(sock, recorder)
        self.control = control
        # The destination address only matters to kept datagrams (--dump/--pcap): the
        # lookup is skipped unless `want_local` asks for it.
        self._want_local = control and want_local
        self.contexts = [ReceiveContext(buffer_size) for _ in range(outstanding)]
        self.cancelled = 0
        self.broadcast = 0  # completions whose ControlFlags had MSG_BCAST
        self.multicast = 0  # ... MSG_MCAST

    def start(self) -> None:
        if self.control:
            enable_control(self, pktinfo=self._want_local, timestamps=True)
        for ctx in self.contexts:
            self._post(ctx)

    def stop(self) -> None:
        """WskCloseSocket cancels every outstanding IRP; then free them."""
        self.stopping = True
        self.close_socket()
        for ctx in self.contexts:
            IoFreeIrp(ctx.irp)

    def statistics(self) -> IrpStatistics:
        return IrpStatistics(
            outstanding=self.sock.outstanding,
            completions=self.sock.counts.completions,
            cancellations=self.cancelled,
            failures=self.failed,
            broadcast=self.broadcast,
            multicast=self.multicast,
            last_failure=self.failure_name(),
        )

    def _post(self, ctx: ReceiveContext) -> None:
        # A fresh or reused IRP has no completion routine: set it for every request.
        IoSetCompletionRoutine(ctx.irp, self._on_receive_complete, ctx)
        ctx.control_length.value = CONTROL_SPACE
        WskReceiveFrom(
            self.sock,
            ctx.buf,
            0,
            ctx.remote,
            ctx.control_length if self.control else None,
            ctx.control_info if self.control else None,
            ctx.control_flags,
            ctx.irp,
        )

    def _on_receive_complete(self, _device: Any, irp: Irp, ctx: ReceiveContext) -> int:
        status = irp.io_status.status
        if status == STATUS_SUCCESS:
            flags = ctx.control_flags.value
            self.recorder.record(
                ctx.buf.data(irp.io_status.information),
                (ctx.remote.host, ctx.remote.port),
                control_timestamp(ctx.control_info) if self.control else None,
                bool(flags & _MSG_TRUNC),
                local=control_local(ctx.control_info) if self._want_local else None,
            )
            if flags & _CAST:
                if flags & _MSG_BCAST:
                    self.broadcast += 1
                else:
                    self.multicast += 1
            if not self.stopping:
                IoReuseIrp(irp, STATUS_SUCCESS)
                self._post(ctx)
        elif status == STATUS_CANCELLED:
            self.cancelled += 1
        else:
            self.note_failure(status)
        # The IRP is ours (we allocated it): stop the I/O manager from freeing it.
        return STATUS_MORE_PROCESSING_REQUIRED
