"""Starting clients for `wskrecv run --template irp|event` (each runs as printed)."""

from __future__ import annotations

IRP = '''\
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
'''

EVENT = '''\
"""An event-style WSK client: the provider calls receive_from_event with a list of
datagram indications per batch read from the socket.

    wskrecv run client.py -p 9000
"""

from wskrecv.client import (
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_SUCCESS,
    WSK_CLIENT_DATAGRAM_DISPATCH,
    WSK_EVENT_CALLBACK_CONTROL,
    WSK_EVENT_RECEIVE_FROM,
    NT_SUCCESS,
    WskControlSocket,
    WskSetOption,
    indications,
)


class Client:
    def __init__(self):
        # What a driver passes to WskSocket as its Dispatch table.
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive_from_event)

    def start(self, socket):
        """The socket is created and bound: enable the receive event callback."""
        self.socket = socket
        control = WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM)
        status = WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, control)
        if not NT_SUCCESS(status):
            raise RuntimeError(f"enabling the receive callback failed: 0x{status:08X}")

    def receive_from_event(self, socket_context, flags, indication):
        if indication is None:  # the socket no longer works
            return STATUS_SUCCESS
        for ind in indications(indication):
            data, remote = ind.data, ind.remote
            # ... your processing of `data` from `remote`
        # STATUS_SUCCESS: done, the buffers go back. STATUS_PENDING: keep the list and
        # give it back later with WskRelease(self.socket, indication).
        return STATUS_SUCCESS

    def stop(self):
        """The run is over: release any list still retained (the socket closes after)."""
'''

TEMPLATES = {"irp": IRP, "event": EVENT}

__all__ = ["TEMPLATES"]
