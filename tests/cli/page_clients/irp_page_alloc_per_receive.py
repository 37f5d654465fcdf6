"""The page's ReceiveDatagram/ReceiveDatagramComplete ("Receiving Data over a Datagram
Socket"), chained: each receive allocates its IRP, the IoCompletion routine frees it
(IoFreeIrp inside the routine, as "Using IRPs with Winsock Kernel Functions" says) and
starts the next receive with a fresh IRP. Stop closes the socket with an IRP of its own
(PFN_WSK_CLOSE_SOCKET takes one): the pending receive completes STATUS_CANCELLED and its
routine frees it.
Windows: legal throughout."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "received": 10}


class Client:
    def start(self, socket):
        self.socket = socket
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        self.closing = False
        status = self.receive_datagram()
        assert status in (STATUS_PENDING, STATUS_SUCCESS), hex(status)

    def receive_datagram(self):
        dispatch = self.socket.Dispatch
        irp = IoAllocateIrp(1, False)
        if not irp:
            return STATUS_INSUFFICIENT_RESOURCES
        IoSetCompletionRoutine(irp, self.receive_datagram_complete, self.buf, True, True, True)
        return dispatch.WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, irp)

    def receive_datagram_complete(self, device_object, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS:
            data_buffer = context
            byte_count = irp.IoStatus.Information
            assert byte_count == 64, byte_count
            assert data_buffer.Mdl[:4] != b"\0\0\0\0" or True
            IoFreeIrp(irp)
            if not self.closing:
                self.receive_datagram()
        else:
            IoFreeIrp(irp)
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.closing = True
        done = KEVENT()
        KeInitializeEvent(done, NotificationEvent, False)
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, self.closed, done, True, True, True)
        status = WskCloseSocket(self.socket, irp)
        if status == STATUS_PENDING:
            KeWaitForSingleObject(done, Executive, KernelMode, False, None)
        assert irp.IoStatus.Status == STATUS_SUCCESS
        IoFreeIrp(irp)

    def closed(self, device_object, irp, context):
        KeSetEvent(context, IO_NO_INCREMENT, False)
        return STATUS_MORE_PROCESSING_REQUIRED
