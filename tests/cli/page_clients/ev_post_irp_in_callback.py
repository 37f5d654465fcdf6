"""The receive callback posts a WskReceiveFrom ("The callback can initiate other WSK
requests"): pending requests take precedence over the callback (PFN_WSK_RECEIVE_FROM
remarks), so a later datagram completes the IRP. Windows: legal (the page warns the
callback may still race; the model gives the IRP first)."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 4, "count": 4}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.indicated = 0
        self.completed = 0
        self.posted = False

    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def receive(self, context, flags, indication):
        self.indicated += sum(1 for _ in indications(indication))
        if not self.posted:
            self.posted = True
            IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
            status = WskReceiveFrom(self.socket, WSK_BUF(bytearray(100), 0, 100), 0, None, None, None,
                                    None, self.irp)
            assert status in (STATUS_PENDING, STATUS_SUCCESS), hex(status)
        return STATUS_SUCCESS

    def done(self, device, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS:
            self.completed += 1
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
        assert self.indicated + self.completed == 4 and self.completed <= 1
