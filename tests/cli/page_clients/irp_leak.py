"""Allocates two IRPs and frees only one. IoAllocateIrp: "The allocating driver must free
the IRP"; Driver Verifier's pool tracking reports it at unload. Verdict: one IrpLeaked at
the second IoAllocateIrp; exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"IrpLeaked": "leaked"}, "send": 3, "count": 3}


class Client:
    def __init__(self):
        self.spare = IoAllocateIrp(1, False)  # <leaked>

    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        self.closing = False
        self.post()

    def post(self):
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device_object, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS and not self.closing:
            IoReuseIrp(irp, STATUS_SUCCESS)
            self.post()
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.closing = True
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
