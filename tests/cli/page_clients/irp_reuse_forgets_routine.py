"""IoReuseIrp, then WskReceiveFrom without IoSetCompletionRoutine again. IoReuseIrp
reinitialises the IRP (its stack location, so the routine); "Using IRPs": an IRP the
application reuses "must set an IoCompletion routine for the IRP before calling a WSK
function". Verdict: IrpWithoutCompletionRoutine at the repost, which fails; exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"IrpWithoutCompletionRoutine": "repost"}, "send": 1}


class Client:
    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        WskReceiveFrom(socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device_object, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS:
            IoReuseIrp(irp, STATUS_SUCCESS)
            WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, irp)  # <repost>
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
