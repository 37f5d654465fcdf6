"""Retains each list (STATUS_PENDING); the next callback releases the previous list's
first half (cut with Next = NULL) from inside itself, a worker later releases the second
half. "it may split the list and release parts separately": legal on Windows (each
WskRelease gives back what was retained). Windows: legal; nothing leaked."""
import queue
import threading

from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 40, "count": 40}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.previous = None
        self.later = queue.Queue()

    def start(self, socket):
        self.socket = socket
        self.worker = threading.Thread(target=self.work, daemon=True)
        self.worker.start()
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def split(self, head):
        items = list(indications(head))
        half = (len(items) + 1) // 2
        if half == len(items):
            return head, None
        items[half - 1].Next = None
        return head, items[half]

    def receive(self, context, flags, indication):
        if indication is None:
            return STATUS_SUCCESS
        if self.previous is not None:
            first, second = self.split(self.previous)
            assert WskRelease(self.socket, first) == STATUS_SUCCESS
            if second is not None:
                self.later.put(second)
        self.previous = indication
        return STATUS_PENDING

    def work(self):
        while True:
            head = self.later.get()
            if head is None:
                return
            assert WskRelease(self.socket, head) == STATUS_SUCCESS

    def stop(self):
        self.later.put(None)
        self.worker.join()
        if self.previous is not None:
            WskRelease(self.socket, self.previous)
        WskCloseSocket(self.socket)
