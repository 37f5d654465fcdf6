"""A completion routine that reposts whatever the status, so also on the STATUS_CANCELLED
WskCloseSocket gives the pending receive. PFN_WSK_CLOSE_SOCKET: "After a WSK application
has called WskCloseSocket, it should not make any further calls to any of the socket's
functions". Verdict: SocketClosed at the repost, once (the call fails: nothing recurses);
exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"SocketClosed": "repost"}, "send": 2, "count": 2}


class Client:
    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(100), 0, 100)
        self.post()

    def post(self):
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        return WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, self.irp)  # <repost>

    def done(self, device, irp, context):
        IoReuseIrp(irp, STATUS_SUCCESS)
        self.post()
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
