"""Static callbacks, then SO_WSK_EVENT_CALLBACK to disable it. WSK_SET_STATIC_EVENT_CALLBACKS:
"cannot be disabled or re-enabled later". Verdict: StaticEventCallback at the disable;
exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"StaticEventCallback": "disable"}, "send": 2, "count": 2}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)

    def attach(self, npi):
        WskControlClient(npi.Client, WSK_SET_STATIC_EVENT_CALLBACKS,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def start(self, socket):
        self.socket = socket

    def receive(self, context, flags, indication):
        return STATUS_SUCCESS

    def stop(self):
        WskControlSocket(self.socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,  # <disable>
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE))
        WskCloseSocket(self.socket)
