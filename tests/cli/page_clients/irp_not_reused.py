"""Reposts its IRP from the completion routine without IoReuseIrp (it sets the routine
again). "Using IRPs with Winsock Kernel Functions": an application reusing a completed
IRP "must call the IoReuseIrp function to reinitialize the IRP". Verdict: IrpNotReused
at the repost, which fails (STATUS_INVALID_PARAMETER); exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"IrpNotReused": "repost"}, "send": 1}


class Client:
    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        WskReceiveFrom(socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device_object, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS:
            IoSetCompletionRoutine(irp, self.done, None, True, True, True)
            status = WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, irp)  # <repost>
            assert status == STATUS_INVALID_PARAMETER
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
