"""The callback closes the socket after the 3rd datagram (as the page's NULL branch
does), with an IRP: PFN_WSK_CLOSE_SOCKET "ensures that any in-progress event callback
functions have returned control back to the WSK subsystem before it closes the socket"
(so STATUS_PENDING; the IRP completes once the callback returned). Windows: legal. The
run ends: the socket is closed."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 3, "count": 3}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.n = 0
        self.closed = False

    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def close_done(self, device, irp, context):
        self.closed = True
        return STATUS_MORE_PROCESSING_REQUIRED

    def receive(self, context, flags, indication):
        self.n += sum(1 for _ in indications(indication))
        if self.n >= 3 and not self.closed:
            IoSetCompletionRoutine(self.irp, self.close_done, None, True, True, True)
            status = WskCloseSocket(self.socket, self.irp)
            assert status == STATUS_PENDING, hex(status)
            assert not self.closed
        return STATUS_SUCCESS

    def stop(self):
        assert self.closed
        IoFreeIrp(self.irp)
