"""A thread cancels the pending receives again and again (IoCancelIrp from another thread,
racing their completions: "In either case, the IRP's cancel bit is set"); every routine
reposts after IoReuseIrp, whether the receive completed or was cancelled. Stop ends the
thread, then closes. Windows: legal; no datagram lost to a cancel (a cancelled receive
took none)."""
import threading

from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 300, "count": 300}
N = 4


class Client:
    def start(self, socket):
        self.socket = socket
        self.stopping = False
        self.closing = False
        self.cancels = 0
        self.irps = [IoAllocateIrp(1, False) for _ in range(N)]
        self.bufs = [WSK_BUF(bytearray(100), 0, 100) for _ in range(N)]
        for i in range(N):
            self.post(i)
        self.canceller = threading.Thread(target=self.cancel_loop, daemon=True)
        self.canceller.start()

    def cancel_loop(self):
        while not self.stopping:
            for irp in self.irps:
                if IoCancelIrp(irp):
                    self.cancels += 1

    def post(self, i):
        IoSetCompletionRoutine(self.irps[i], self.done, i, True, True, True)
        WskReceiveFrom(self.socket, self.bufs[i], 0, None, None, None, None, self.irps[i])

    def done(self, device, irp, i):
        if not self.closing and irp.IoStatus.Status in (STATUS_SUCCESS, STATUS_CANCELLED):
            IoReuseIrp(irp, STATUS_SUCCESS)
            self.post(i)
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.stopping = True
        self.canceller.join()
        self.closing = True
        WskCloseSocket(self.socket)
        for irp in self.irps:
            IoFreeIrp(irp)
