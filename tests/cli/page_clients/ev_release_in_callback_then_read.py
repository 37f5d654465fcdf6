"""Inside the callback: WskRelease of the second half of the list (cut first), then reads
a released indication (guarded), returns STATUS_PENDING for the first half and releases
it in stop. Verdict: UseAfterRelease at the read only; exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"UseAfterRelease": "read"}, "send": 1, "count": 1}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.held = []

    def start(self, socket):
        self.socket = socket
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def receive(self, context, flags, indication):
        released = indication  # a one-datagram list: release it all, then read
        WskRelease(self.socket, released)
        try:
            self.port = released.RemoteAddress.port  # <read>
        except WskApiViolation:
            pass
        return STATUS_PENDING

    def stop(self):
        WskCloseSocket(self.socket)
