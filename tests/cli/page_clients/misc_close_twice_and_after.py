"""Closes the socket, then closes it again and posts a receive on it. PFN_WSK_CLOSE_SOCKET:
"After a WSK application has called WskCloseSocket, it should not make any further calls
to any of the socket's functions". Verdict: SocketClosed at each of the two calls; the
IRP stays the client's (freed); exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"SocketClosed": None}, "send": 2, "count": 2}


class Client:
    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(100), 0, 100)
        self.post()

    def post(self):
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        return WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS:
            IoReuseIrp(irp, STATUS_SUCCESS)
            self.post()
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        WskCloseSocket(self.socket)
        assert WskCloseSocket(self.socket) == STATUS_INVALID_PARAMETER
        IoReuseIrp(self.irp, STATUS_SUCCESS)
        assert self.post() == STATUS_INVALID_PARAMETER
        IoFreeIrp(self.irp)
