"""Receive timestamps (SIO_TIMESTAMPING with TIMESTAMPING_CONFIG, Level ignored for
WskIoctl) and IP_PKTINFO; the first receive gives ControlLength room for the packet info
only: the timestamp does not fit, MSG_CTRUNC ("The control information data was
truncated because the number of bytes of control information was greater than the size
of the buffer"), ControlLength the bytes kept. Later ones have room for both.
Windows: legal."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 3, "count": 3}


class Client:
    def start(self, socket):
        self.socket = socket
        self.closing = False
        status = WskControlSocket(socket, WskIoctl, SIO_TIMESTAMPING, 0, TIMESTAMPING_CONFIG())
        assert status == STATUS_SUCCESS
        assert WskControlSocket(socket, WskSetOption, IP_PKTINFO, IPPROTO_IP, 1) == STATUS_SUCCESS
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(100), 0, 100)
        self.info = []
        self.flags = ULONG()
        self.room = ULONG(CMSG_SPACE(8))  # IN_PKTINFO only
        self.seen = []
        self.post()

    def post(self):
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        WskReceiveFrom(self.socket, self.buf, 0, None, self.room, self.info, self.flags, self.irp)

    def done(self, device, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS:
            self.seen.append((bool(self.flags.value & MSG_CTRUNC), self.room.value,
                              control_local(self.info), control_timestamp(self.info) is not None))
            if not self.closing:
                IoReuseIrp(irp, STATUS_SUCCESS)
                self.room.value = CMSG_SPACE(8) + CMSG_SPACE(8)
                self.post()
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.closing = True
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
        first, *rest = self.seen
        assert first == (True, CMSG_SPACE(8), "127.0.0.1", False), first
        assert rest and all(s == (False, 2 * CMSG_SPACE(8), "127.0.0.1", True) for s in rest), rest
