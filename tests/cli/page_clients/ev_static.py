"""WSK_SET_STATIC_EVENT_CALLBACKS from the attach hook (before any socket; Irp NULL), as
msquic's kernel datapath does: the callback is on without SO_WSK_EVENT_CALLBACK; a
STATUS_DATA_NOT_ACCEPTED does not disable it. Windows: legal; the rejected datagram's
fate is not documented; the others received."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "received": 5, "send": 6, "count": 5}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.calls = 0

    def attach(self, npi):
        status = npi.Dispatch.WskControlClient(npi.Client, WSK_SET_STATIC_EVENT_CALLBACKS,
                                               WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM), None)
        assert status == STATUS_SUCCESS, hex(status)

    def start(self, socket):
        self.socket = socket

    def receive(self, context, flags, indication):
        if indication is None:
            return STATUS_SUCCESS
        self.calls += 1
        if self.calls == 1 and indication.Next is None:
            return STATUS_DATA_NOT_ACCEPTED
        return STATUS_SUCCESS

    def stop(self):
        WskCloseSocket(self.socket)
