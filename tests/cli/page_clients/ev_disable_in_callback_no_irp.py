"""Disables its callback from inside the callback without an IRP: SO_WSK_EVENT_CALLBACK,
"... and the WSK application did not specify an IRP, the WskControlSocket function
returns STATUS_EVENT_PENDING. The WSK subsystem disables the event callback function
after all in-progress calls to the event callback function have returned." A worker
re-enables it afterwards. Windows: legal."""
import threading

from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 3, "count": 3}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.statuses = []
        self.wake = threading.Event()

    def start(self, socket):
        self.socket = socket
        self.control(WSK_EVENT_RECEIVE_FROM)
        self.worker = threading.Thread(target=self.reenable, daemon=True)
        self.worker.start()

    def reenable(self):
        self.wake.wait()
        if self.statuses:  # (a WskControlSocket waits for the callback to return)
            assert self.control(WSK_EVENT_RECEIVE_FROM) == STATUS_SUCCESS

    def control(self, mask):
        return WskControlSocket(self.socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                WSK_EVENT_CALLBACK_CONTROL(mask))

    def receive(self, context, flags, indication):
        if indication is not None and not self.statuses:
            self.statuses.append(self.control(WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE))
            self.wake.set()
        return STATUS_SUCCESS

    def stop(self):
        self.wake.set()
        self.worker.join()
        assert self.statuses == [STATUS_EVENT_PENDING], self.statuses
        WskCloseSocket(self.socket)
