"""The completion routine returns STATUS_SUCCESS for an IRP the client allocated. "Using
IRPs": the routine "must always return STATUS_MORE_PROCESSING_REQUIRED". Verdict:
BadCompletionReturn blamed on the routine; exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"BadCompletionReturn": "routine"}, "send": 3, "count": 3}


class Client:
    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        self.closing = False
        self.post()

    def post(self):
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device_object, irp, context):  # <routine>
        if irp.IoStatus.Status == STATUS_SUCCESS and not self.closing:
            IoReuseIrp(irp, STATUS_SUCCESS)
            self.post()
        return STATUS_SUCCESS

    def stop(self):
        self.closing = True
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
