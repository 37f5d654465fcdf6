"""Two receives outstanding on one WSK_BUF (and one ControlFlags ULONG). PFN_WSK_RECEIVE_FROM
says the buffers must stay valid until the IRP completes; no page forbids sharing them.
Verdict: the caution RequestBufferInUse (counted apart), the run succeeds: exit 0."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {"RequestBufferInUse": None}, "received": 6, "send": 6}


class Client:
    def start(self, socket):
        self.socket = socket
        self.closing = False
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        self.irps = [IoAllocateIrp(1, False) for _ in range(2)]
        for irp in self.irps:
            self.post(irp)

    def post(self, irp):
        IoSetCompletionRoutine(irp, self.done, None, True, True, True)
        return WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, irp)

    def done(self, device_object, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS and not self.closing:
            IoReuseIrp(irp, STATUS_SUCCESS)
            self.post(irp)
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.closing = True
        WskCloseSocket(self.socket)
        for irp in self.irps:
            IoFreeIrp(irp)
