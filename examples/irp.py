"""An IRP-style WSK client: DEPTH receives posted, each reposted when it completes.

    wskrecv run client.py -p 9000

It handles what a receive can meet (try it with `--inject all=0.1`): IoAllocateIrp
returning NULL (it runs with the IRPs it got), a request that fails or that someone else
cancelled (posted again), and a socket that stops working (STATUS_FILE_FORCED_CLOSED:
closed at once).
"""

from wskrecv.client import (
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

DEPTH = 4
BUFFER = 65535


class Receive:
    def __init__(self, irp):
        self.irp = irp
        self.buffer = WSK_BUF(bytearray(BUFFER), 0, BUFFER)
        self.remote = SOCKADDR()
        self.control_flags = ULONG(0)


class Client:
    def __init__(self):
        # IoAllocateIrp returns NULL when memory is short: keep the IRPs it did give.
        irps = [IoAllocateIrp() for _ in range(DEPTH)]
        self.receives = [Receive(irp) for irp in irps if irp is not None]
        self.stopping = False
        self.closed = False

    def start(self, socket):
        """The socket is created and bound (WskSocket + WskBind): post the receives."""
        self.socket = socket
        for receive in self.receives:
            self.post(receive)

    def post(self, receive):
        IoSetCompletionRoutine(receive.irp, self.on_receive, receive)  # again after each reuse
        WskReceiveFrom(self.socket, receive.buffer, 0, receive.remote, None, None,
                       receive.control_flags, receive.irp)

    def on_receive(self, device, irp, receive):
        status = irp.io_status.status
        if status == STATUS_SUCCESS:
            self.process(receive.buffer.data(irp.io_status.information), receive.remote)
        elif status == STATUS_FILE_FORCED_CLOSED:
            self.close()  # the socket no longer works: close it as soon as possible
        # Any other status is this request's failure or cancellation, not the socket's:
        # post it again (WskCloseSocket's cancellations come once we stop or close).
        if not self.stopping and not self.closed:
            IoReuseIrp(irp, STATUS_SUCCESS)
            self.post(receive)
        return STATUS_MORE_PROCESSING_REQUIRED

    def process(self, data, remote):
        """Your processing of `data` from (remote.host, remote.port)."""

    def close(self):
        if not self.closed:
            self.closed = True
            WskCloseSocket(self.socket)  # what is still posted completes: STATUS_CANCELLED

    def stop(self):
        """The run is over: closing cancels what is still posted; then free the IRPs."""
        self.stopping = True
        self.close()
        for receive in self.receives:
            IoFreeIrp(receive.irp)
