"""Returns STATUS_DATA_NOT_ACCEPTED for every other list (PFN_WSK_RECEIVE_FROM_EVENT: the
callback is disabled, the datagrams buffered if possible) and re-enables the callback
from a worker thread soon after (SO_WSK_EVENT_CALLBACK, no IRP); the kept datagrams come
again. Windows: legal; every datagram received once accepted."""
import threading

from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "received": 10}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.calls = 0
        self.wake = threading.Event()
        self.done = False

    def start(self, socket):
        self.socket = socket
        self.enable()
        self.worker = threading.Thread(target=self.reenabler, daemon=True)
        self.worker.start()

    def enable(self):
        return WskControlSocket(self.socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def reenabler(self):
        while True:
            self.wake.wait()
            self.wake.clear()
            if self.done:
                return
            assert self.enable() == STATUS_SUCCESS

    def receive(self, context, flags, indication):
        if indication is None:
            return STATUS_SUCCESS
        self.calls += 1
        if self.calls % 2:
            self.wake.set()
            return STATUS_DATA_NOT_ACCEPTED
        return STATUS_SUCCESS

    def stop(self):
        self.done = True
        self.wake.set()
        self.worker.join()
        WskCloseSocket(self.socket)
