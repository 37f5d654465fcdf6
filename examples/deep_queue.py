"""A deep receive queue: DEPTH WskReceiveFrom requests posted at once, each IRP reused as
soon as it completes (the shape of msquic's and ovpn-dco-win's IRP receive paths).

    wskrecv run examples/deep_queue.py -p 9000

What can go wrong is handled (`--inject all=0.1` checks it): an IoAllocateIrp that returns
NULL, a request that fails or is cancelled by someone else, a socket that stops working.
"""

from wskrecv.client import (
    MSG_TRUNC,
    NT_SUCCESS,
    SOCKADDR,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_SUCCESS,
    ULONG,
    WSK_BUF,
    IoAllocateIrp,
    IoFreeIrp,
    IoReuseIrp,
    IoSetCompletionRoutine,
    WskCloseSocket,
    WskReceiveFrom,
)

DEPTH = 32  # receives kept posted
BUFFER = 2048  # WSK_BUF.Length: longer datagrams are truncated (MSG_TRUNC)


class Receive:
    """One outstanding receive: its IRP and the buffers WskReceiveFrom fills."""

    def __init__(self, irp) -> None:
        self.irp = irp
        self.buffer = WSK_BUF(bytearray(BUFFER), 0, BUFFER)
        self.remote = SOCKADDR()
        self.control_flags = ULONG(0)


class DeepQueue:
    def __init__(self) -> None:
        irps = [IoAllocateIrp() for _ in range(DEPTH)]
        self.receives = [Receive(irp) for irp in irps if irp is not None]  # NULL: none this time
        self.stopping = False
        self.closed = False
        self.truncated = 0
        self.failed = 0

    def start(self, socket) -> None:
        self.socket = socket
        for receive in self.receives:
            self.post(receive)

    def post(self, receive: Receive) -> None:
        # Before every submission: IoReuseIrp clears the completion routine.
        IoSetCompletionRoutine(receive.irp, self.on_receive, receive)
        status = WskReceiveFrom(self.socket, receive.buffer, 0, receive.remote, None, None,
                                receive.control_flags, receive.irp)
        # STATUS_PENDING, or the request already completed (the routine has run).
        if not NT_SUCCESS(status):
            self.failed += 1

    def on_receive(self, device, irp, receive: Receive) -> int:
        status = irp.io_status.status
        if status == STATUS_SUCCESS:
            if receive.control_flags.value & MSG_TRUNC:
                self.truncated += 1
            # irp.io_status.information bytes of receive.buffer hold the datagram.
        elif status == STATUS_FILE_FORCED_CLOSED:  # the socket no longer works
            self.close()
        # A failed or cancelled request is posted again, unless the socket is closing
        # (WskCloseSocket's STATUS_CANCELLED).
        if not self.stopping and not self.closed:
            IoReuseIrp(irp, STATUS_SUCCESS)
            self.post(receive)
        return STATUS_MORE_PROCESSING_REQUIRED  # the IRP is ours, not the I/O manager's

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            WskCloseSocket(self.socket)  # cancels the receives still posted

    def stop(self) -> None:
        self.stopping = True
        self.close()
        for receive in self.receives:
            IoFreeIrp(receive.irp)
