"""An IRP-style WSK client: DEPTH receives posted, each reposted when it completes.

    wskrecv run client.py -p 9000
"""

from wskrecv.client import (
    SOCKADDR,
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
    def __init__(self):
        self.irp = IoAllocateIrp()
        self.buffer = WSK_BUF(bytearray(BUFFER), 0, BUFFER)
        self.remote = SOCKADDR()
        self.control_flags = ULONG(0)


class Client:
    def __init__(self):
        self.receives = [Receive() for _ in range(DEPTH)]
        self.stopping = False

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
        if irp.io_status.status == STATUS_SUCCESS and not self.stopping:
            data = receive.buffer.data(irp.io_status.information)
            # ... your processing of `data` from (receive.remote.host, receive.remote.port)
            IoReuseIrp(irp, STATUS_SUCCESS)
            self.post(receive)
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        """The run is over: closing cancels what is still posted."""
        self.stopping = True
        WskCloseSocket(self.socket)
        for receive in self.receives:
            IoFreeIrp(receive.irp)
