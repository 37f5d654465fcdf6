"""IoCancelIrp on a pending receive: its routine sees STATUS_CANCELLED (IoCancelIrp: the
cancel routine is called; Irp->Cancel TRUE). The client reuses it and posts again.
IoCancelIrp on an IRP that already completed (the classic race): "In either case, the
IRP's cancel bit is set to TRUE", FALSE returned, nothing else. Windows: legal."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "received": 5, "send": 5}


class Client:
    def start(self, socket):
        self.socket = socket
        self.closing = False
        self.cancelled = 0
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        self.post()
        assert IoCancelIrp(self.irp) is True
        assert self.cancelled == 1 and self.irp.Cancel
        IoReuseIrp(self.irp, STATUS_SUCCESS)
        assert not self.irp.Cancel
        self.post()

    def post(self):
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        return WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device_object, irp, context):
        if irp.IoStatus.Status == STATUS_CANCELLED:
            self.cancelled += 1
        elif irp.IoStatus.Status == STATUS_SUCCESS:
            # the race: cancel arrives after completion
            assert IoCancelIrp(irp) is False and irp.Cancel
            if not self.closing:
                IoReuseIrp(irp, STATUS_SUCCESS)
                self.post()
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.closing = True
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
