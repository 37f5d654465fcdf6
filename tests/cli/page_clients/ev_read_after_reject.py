"""Returns STATUS_DATA_NOT_ACCEPTED for the first list and keeps a reference; a worker
reads it (guarded) and re-enables the callback: the datagram comes again and is
accepted; the stop hook reads the old reference again (guarded). "The WSK application
did not accept the datagrams": they are the provider's. Verdict: UseAfterReject at the
worker's read, UseAfterRelease at the stop hook's (it went back with STATUS_SUCCESS
since); exit 7."""
import threading

from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"UseAfterReject": "peek", "UseAfterRelease": "read"}, "send": 1, "count": 1}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.rejected = None
        self.wake = threading.Event()

    def start(self, socket):
        self.socket = socket
        self.enable()
        self.t = threading.Thread(target=self.reenable, daemon=True)
        self.t.start()

    def reenable(self):
        self.wake.wait()
        try:
            self.peeked = self.rejected.Buffer  # <peek>
        except WskApiViolation:
            pass
        self.enable()

    def enable(self):
        return WskControlSocket(self.socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def receive(self, context, flags, indication):
        if self.rejected is None:
            self.rejected = indication
            self.wake.set()
            return STATUS_DATA_NOT_ACCEPTED
        return STATUS_SUCCESS

    def stop(self):
        self.t.join()
        try:
            self.peeked = self.rejected.Buffer  # <read>
        except WskApiViolation:
            pass
        WskCloseSocket(self.socket)
