"""Returns STATUS_SUCCESS (the list goes back at once) and later calls WskRelease on it.
The WskRelease page: it releases a list "that it previously retained by returning
STATUS_PENDING"; this one was never retained. Verdict: the list is not held:
ReleaseNotHeld (not "ReleasedTwice": the client released it once), exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"ReleaseNotHeld": "release"}, "send": 1, "count": 1}


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
        for head in self.seen:
            WskRelease(self.socket, head)  # <release>
        WskCloseSocket(self.socket)
