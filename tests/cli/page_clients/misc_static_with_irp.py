"""WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS) with an IRP: "The Irp parameter must be
NULL for this client control operation". The call fails, the IRP is never left pending
(the client frees it at once), and the client retries without one. Verdict: the
failure status, no rule; exit 0."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 3, "count": 3}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)

    def attach(self, npi):
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, self.done, None, True, True, True)
        status = WskControlClient(npi.Client, WSK_SET_STATIC_EVENT_CALLBACKS,
                                  WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM), irp)
        assert not NT_SUCCESS(status)
        IoFreeIrp(irp)
        assert WskControlClient(npi.Client, WSK_SET_STATIC_EVENT_CALLBACKS,
                                WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM)) == STATUS_SUCCESS

    def done(self, device, irp, context):
        return STATUS_MORE_PROCESSING_REQUIRED

    def start(self, socket):
        self.socket = socket

    def receive(self, context, flags, indication):
        return STATUS_SUCCESS

    def stop(self):
        WskCloseSocket(self.socket)
