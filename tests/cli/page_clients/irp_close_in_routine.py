"""The completion routine closes the socket after the 3rd datagram (a driver tearing down
on its own schedule: a completion routine may initiate WSK requests), with the other
receive still pending: WskCloseSocket cancels it ("cancel and complete all pending IRPs"),
its routine sees STATUS_CANCELLED and does not repost. Windows: legal."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 3, "count": 3}


class Client:
    def start(self, socket):
        self.socket = socket
        self.n = 0
        self.closed = False
        self.cancelled = 0
        self.irps = [IoAllocateIrp(1, False) for _ in range(2)]
        self.bufs = [WSK_BUF(bytearray(100), 0, 100) for _ in range(2)]
        for i in range(2):
            self.post(i)

    def post(self, i):
        IoSetCompletionRoutine(self.irps[i], self.done, i, True, True, True)
        WskReceiveFrom(self.socket, self.bufs[i], 0, None, None, None, None, self.irps[i])

    def done(self, device, irp, i):
        if irp.IoStatus.Status == STATUS_CANCELLED:
            self.cancelled += 1
        elif irp.IoStatus.Status == STATUS_SUCCESS and not self.closed:
            self.n += 1
            if self.n == 3:
                self.closed = True
                WskCloseSocket(self.socket)
            else:
                IoReuseIrp(irp, STATUS_SUCCESS)
                self.post(i)
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        assert self.closed and self.cancelled == 1, (self.closed, self.cancelled)
        for irp in self.irps:
            IoFreeIrp(irp)
