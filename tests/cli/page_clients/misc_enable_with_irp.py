"""Enables the callback passing an IRP. SO_WSK_EVENT_CALLBACK: "A WSK application does not
specify a pointer to an IRP when calling the WskControlSocket function to enable event
callback functions". What Windows does with one is not stated. The model fails the call
(and completes the IRP with the failure): the client retries without. Verdict: the
failure status, no rule; exit 0."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 3, "count": 3}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.seen = None

    def start(self, socket):
        self.socket = socket
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, self.done, None, True, True, True)
        status = WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                  WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM), irp)
        assert self.seen == status, (self.seen, status)
        IoFreeIrp(irp)
        if not NT_SUCCESS(status):
            assert WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                    WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM)) == STATUS_SUCCESS

    def done(self, device, irp, context):
        self.seen = irp.IoStatus.Status
        return STATUS_MORE_PROCESSING_REQUIRED

    def receive(self, context, flags, indication):
        return STATUS_SUCCESS

    def stop(self):
        WskCloseSocket(self.socket)
