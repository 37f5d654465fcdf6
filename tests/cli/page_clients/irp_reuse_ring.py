"""msquic-style: N IRPs allocated up front, each reposted from its completion routine
after IoReuseIrp + IoSetCompletionRoutine (IoReuseIrp reinitialises it). Every receive
asks for the remote address, control information (IP_PKTINFO set first, with an IRP and
a wait at PASSIVE_LEVEL as ovpn-dco-win's OvpnSocketSyncOp does) and ControlFlags.
The buffer is 16 bytes: the 64-byte datagrams are truncated (MSG_TRUNC, Information 16).
Windows: legal; every datagram received."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "received": 10}
N = 4


class Slot:
    pass


class Client:
    def start(self, socket):
        self.socket = socket
        self.closing = False
        self.seen = 0
        # IP_PKTINFO with an IRP, waited for (PFN_WSK_CONTROL_SOCKET: the IRP completes
        # whatever the status; STATUS_PENDING: wait for it).
        event = KEVENT()
        KeInitializeEvent(event, NotificationEvent, False)
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, self.sync_done, event, True, True, True)
        status = WskControlSocket(socket, WskSetOption, IP_PKTINFO, IPPROTO_IP, 1, irp)
        if status == STATUS_PENDING:
            KeWaitForSingleObject(event, Executive, KernelMode, False, None)
            status = irp.IoStatus.Status
        assert NT_SUCCESS(status), hex(status)
        assert event.is_set()  # the routine ran although the call did not pend
        IoFreeIrp(irp)
        self.slots = []
        for _ in range(N):
            s = Slot()
            s.irp = IoAllocateIrp(1, False)
            s.buf = WSK_BUF(bytearray(16), 0, 16)
            s.remote = SOCKADDR()
            s.control = []
            s.control_length = ULONG(CMSG_SPACE(64))
            s.flags = ULONG(0)
            self.slots.append(s)
            IoSetCompletionRoutine(s.irp, self.done, s, True, True, True)
            self.post(s)

    def sync_done(self, device_object, irp, context):
        KeSetEvent(context, IO_NO_INCREMENT, False)
        return STATUS_MORE_PROCESSING_REQUIRED

    def post(self, s):
        s.control_length.value = CMSG_SPACE(64)
        return self.socket.Dispatch.WskReceiveFrom(
            self.socket, s.buf, 0, s.remote, s.control_length, s.control, s.flags, s.irp)

    def done(self, device_object, irp, s):
        if irp.IoStatus.Status == STATUS_SUCCESS:
            assert irp.IoStatus.Information == 16, irp.IoStatus.Information
            assert s.flags.value & MSG_TRUNC, hex(s.flags.value)
            assert s.remote.host == "127.0.0.1", s.remote.host
            assert control_local(s.control) == "127.0.0.1", s.control
            assert s.control_length.value > 0
            self.seen += 1
            if not self.closing:
                IoReuseIrp(irp, STATUS_SUCCESS)
                IoSetCompletionRoutine(irp, self.done, s, True, True, True)
                self.post(s)
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.closing = True
        WskCloseSocket(self.socket)
        for s in self.slots:
            IoFreeIrp(s.irp)
