"""Failure paths that are no rule break: Flags nonzero ("reserved ... must set this
parameter to zero": the call fails), an Offset outside the first MDL (WSK_BUF: "must be
within the memory buffer that is described by the first MDL"), a read-only buffer. Each
time "The IRP will be completed with failure status" (PFN_WSK_RECEIVE_FROM, Other status
codes): the routine sees the failure, the IRP is the client's again and is reused.
Windows: the calls fail; nothing else. Then it receives normally: exit 0."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "received": 5, "send": 5}


class Client:
    def start(self, socket):
        self.socket = socket
        self.closing = False
        self.failures = []
        self.irp = IoAllocateIrp(1, False)
        good = WSK_BUF(bytearray(2048), 0, 2048)
        for flags, buf in ((1, good), (0, WSK_BUF(bytearray(16), 64, 16)), (0, WSK_BUF(bytes(64), 0, 64))):
            IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
            status = WskReceiveFrom(socket, buf, flags, None, None, None, None, self.irp)
            assert not NT_SUCCESS(status), hex(status)
            assert self.failures[-1] == status, (self.failures, hex(status))
            IoReuseIrp(self.irp, STATUS_SUCCESS)
        self.buf = good
        self.post()

    def post(self):
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        return WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device_object, irp, context):
        status = irp.IoStatus.Status
        if status == STATUS_SUCCESS:
            if not self.closing:
                IoReuseIrp(irp, STATUS_SUCCESS)
                self.post()
        elif status != STATUS_CANCELLED:
            self.failures.append(status)
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.closing = True
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
