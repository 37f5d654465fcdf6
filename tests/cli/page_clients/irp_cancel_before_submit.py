"""IoCancelIrp on an IRP that is not pending yet (reused, about to be posted: the race a
thread that posts while another cancels runs into). IoCancelIrp: with no cancel routine
"IoCancelIrp sets the IRP's cancel bit and returns FALSE. The IRP should be canceled at a
later time when it becomes cancelable": posted, it completes with STATUS_CANCELLED at
once instead of waiting for a datagram. Windows: legal; the routine sees the cancel."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 3, "count": 3}


class Client:
    def start(self, socket):
        self.socket = socket
        self.closing = False
        self.statuses = []
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(100), 0, 100)
        assert IoCancelIrp(self.irp) is False and self.irp.Cancel
        status = self.post()
        assert self.statuses == [STATUS_CANCELLED], (hex(status), self.statuses)
        IoReuseIrp(self.irp, STATUS_SUCCESS)
        self.post()

    def post(self):
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        return WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device, irp, context):
        self.statuses.append(irp.IoStatus.Status)
        if irp.IoStatus.Status == STATUS_SUCCESS and not self.closing:
            IoReuseIrp(irp, STATUS_SUCCESS)
            self.post()
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.closing = True
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
