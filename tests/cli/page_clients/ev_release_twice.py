"""Retains a list (STATUS_PENDING), releases it, then releases it again.
PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST: releases what was retained; a second release is
a double free. Verdict: ReleasedTwice at the second WskRelease, which fails
(STATUS_INVALID_PARAMETER); exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"ReleasedTwice": "again"}, "send": 1, "count": 1}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.held = []

    def start(self, socket):
        self.socket = socket
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def receive(self, context, flags, indication):
        self.held.append(indication)
        return STATUS_PENDING

    def stop(self):
        for head in self.held:
            assert WskRelease(self.socket, head) == STATUS_SUCCESS
            assert WskRelease(self.socket, head) == STATUS_INVALID_PARAMETER  # <again>
        WskCloseSocket(self.socket)
