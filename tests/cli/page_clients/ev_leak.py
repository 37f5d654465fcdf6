"""Retains every list and closes the socket without releasing. WskRelease page: "A WSK
application must release all retained linked lists of structures before the application
calls the WskCloseSocket function." Verdict: IndicationLeaked, leaked = 5; exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"IndicationLeaked": None}, "send": 5, "count": 5}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)

    def start(self, socket):
        self.socket = socket
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def receive(self, context, flags, indication):
        return STATUS_PENDING

    def stop(self):
        WskCloseSocket(self.socket)
