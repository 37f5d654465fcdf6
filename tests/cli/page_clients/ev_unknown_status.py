"""msquic's callback returns STATUS_DEVICE_NOT_READY (0xC00000A3) when its rundown
fails; the page lists three statuses and says nothing of others. Verdict: a caution
(UnknownCallbackStatus), not a rule; exit 0."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {"UnknownCallbackStatus": None}, "send": 3, "count": 3}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.calls = 0

    def start(self, socket):
        self.socket = socket
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def receive(self, context, flags, indication):
        self.calls += 1
        return 0xC00000A3 if self.calls == 1 else STATUS_SUCCESS

    def stop(self):
        WskCloseSocket(self.socket)
