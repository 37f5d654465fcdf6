"""A WSK_BUF over an MDL chain (MDL 10 bytes -> MDL 100 bytes), Offset 4 in the first MDL,
Length 50: the datagram fills from offset 4 across the chain (WSK_BUF: "The MDL can be a
single MDL or the first MDL in an MDL chain"; Length: "the maximum number of bytes to be
received"). 64-byte datagrams: 50 bytes copied, MSG_TRUNC. Windows: legal."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "received": 5, "send": 5, "send_args": ["--seq-format", "none"]}


class Client:
    def start(self, socket):
        self.socket = socket
        self.closing = False
        self.first = bytearray(10)
        self.second = bytearray(100)
        self.buf = WSK_BUF(MDL(self.first, MDL(self.second)), 4, 50)
        self.flags = ULONG(0)
        self.irp = IoAllocateIrp(1, False)
        self.post()

    def post(self):
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        return WskReceiveFrom(self.socket, self.buf, 0, None, None, None, self.flags, self.irp)

    def done(self, device_object, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS:
            assert irp.IoStatus.Information == 50, irp.IoStatus.Information
            assert self.flags.value & MSG_TRUNC
            data = bytes(self.first[4:]) + bytes(self.second[:44])
            assert data == self.buf.data(50), (data, self.buf.data(50))
            if not self.closing:
                IoReuseIrp(irp, STATUS_SUCCESS)
                self.post()
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.closing = True
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
