"""The stop hook frees the IRP before closing the socket: the receive is still pending,
the IRP is the provider's ("If the WSK application is done using the IRP after the
IoCompletion routine has been called, then it should call the IoFreeIrp function").
Verdict: IrpFreedWhilePending at IoFreeIrp, which does nothing; the close cancels the
receive and the IRP, never freed, is IrpLeaked at its IoAllocateIrp; exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"IrpFreedWhilePending": "free", "IrpLeaked": "alloc"},
          "send": 0, "count": 0, "args": ["--duration", "0.3"]}


class Client:
    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)  # <alloc>
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        WskReceiveFrom(socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device_object, irp, context):
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        IoFreeIrp(self.irp)  # <free>
        WskCloseSocket(self.socket)
