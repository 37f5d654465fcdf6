"""Submits its IRP, then submits the same IRP again while it is still pending.
"Using IRPs with Winsock Kernel Functions": only a completed IRP, reinitialised with
IoReuseIrp, may be passed again. Windows + Driver Verifier: the second call is the
violation (the IRP belongs to the provider). Verdict: IrpAlreadyPending at the second
WskReceiveFrom, the call fails; the first receive goes on; exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"IrpAlreadyPending": "second"}, "received": 10}


class Client:
    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        self.post()
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        status = WskReceiveFrom(socket, self.buf, 0, None, None, None, None, self.irp)  # <second>
        assert status == STATUS_INVALID_PARAMETER, hex(status)
        self.closing = False

    def post(self):
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        return WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device_object, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS and not self.closing:
            IoReuseIrp(irp, STATUS_SUCCESS)
            self.post()
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.closing = True
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
