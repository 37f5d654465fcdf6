"""Both styles at once: the callback is enabled and a WskReceiveFrom is pending. "the
pending call to the WskReceiveFrom function will take precedence" (PFN_WSK_RECEIVE_FROM
remarks): the first datagram completes the IRP, the rest go to the callback. Windows:
legal (the page warns the callback may still race; the model gives the IRP first)."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 5, "count": 5}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.completed = 0
        self.indicated = 0

    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        WskReceiveFrom(socket, WSK_BUF(bytearray(100), 0, 100), 0, None, None, None, None, self.irp)
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def done(self, device, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS:
            self.completed += 1
        return STATUS_MORE_PROCESSING_REQUIRED

    def receive(self, context, flags, indication):
        self.indicated += sum(1 for _ in indications(indication))
        return STATUS_SUCCESS

    def stop(self):
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
        assert self.completed == 1 and self.indicated == 4, (self.completed, self.indicated)
