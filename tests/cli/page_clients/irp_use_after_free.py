"""Frees its IRP in the completion routine (as the page does), then reuses the freed IRP
for the next receive. IoFreeIrp: the IRP is released; touching it after is a use after
free. Verdict: IrpUsedAfterFree at IoReuseIrp and again at WskReceiveFrom (which fails);
exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"IrpUsedAfterFree": ["reuse", "post"]}, "send": 1}


class Client:
    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        WskReceiveFrom(socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device_object, irp, context):
        IoFreeIrp(irp)
        if irp.IoStatus.Status == STATUS_SUCCESS:
            IoReuseIrp(irp, STATUS_SUCCESS)  # <reuse>
            IoSetCompletionRoutine(irp, self.done, None, True, True, True)
            WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, irp)  # <post>
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        WskCloseSocket(self.socket)
