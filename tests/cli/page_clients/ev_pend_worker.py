"""STATUS_PENDING: the callback queues each list and returns; a worker thread processes
and WskReleases each whole list later (PFN_WSK_RECEIVE_FROM_EVENT, STATUS_PENDING; the
WskRelease page). Stop waits for the worker to release all before WskCloseSocket ("must
release all retained linked lists ... before ... WskCloseSocket"). Windows: legal."""
import queue
import threading

from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "received": 20, "send": 20}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.q = queue.Queue()

    def start(self, socket):
        self.socket = socket
        self.worker = threading.Thread(target=self.work, daemon=True)
        self.worker.start()
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def receive(self, context, flags, indication):
        if indication is None:
            return STATUS_SUCCESS
        self.q.put(indication)
        return STATUS_PENDING

    def work(self):
        while True:
            head = self.q.get()
            if head is None:
                return
            for ind in indications(head):
                assert len(ind.data) == 64
            assert WskRelease(self.socket, head) == STATUS_SUCCESS

    def stop(self):
        self.q.put(None)
        self.worker.join()
        WskCloseSocket(self.socket)
