"""Keeps the indication past STATUS_SUCCESS and reads its Buffer in the stop hook, with a
guard around the read (a driver would read freed memory: Special Pool / use after free).
Verdict: UseAfterRelease at the read; exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"UseAfterRelease": "read"}, "send": 1, "count": 1}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.seen = []

    def start(self, socket):
        self.socket = socket
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def receive(self, context, flags, indication):
        self.seen.append(indication)
        return STATUS_SUCCESS

    def stop(self):
        WskCloseSocket(self.socket)
        for ind in self.seen:
            try:
                self.length = ind.Buffer.Length  # <read>
            except WskApiViolation:
                pass
