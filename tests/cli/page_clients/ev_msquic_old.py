"""msquic's kernel datapath before "Remove DataIndication Queuing"
(CxPlatDataPathSocketReceive, RecvDataReturn): the callback walks the list, cuts every
indication loose (DataIndication->Next = NULL), drops every third (copies it: builds a
ReleaseChain of the dropped ones, not adjacent in the list) and WskReleases that chain
inside the callback, keeps the rest and returns STATUS_PENDING. Later a worker returns
kept indications from several callbacks' lists chained together in one WskRelease.
Windows: legal; all received, nothing leaked."""
import queue
import threading

from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "received": 30, "send": 30}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.kept = queue.Queue()
        self.n = 0

    def start(self, socket):
        self.socket = socket
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))
        self.worker = threading.Thread(target=self.recv_data_return, daemon=True)
        self.worker.start()

    def receive(self, context, flags, head):
        if head is None:
            return STATUS_SUCCESS
        release_chain = None
        tail = None
        while head is not None:
            ind = head
            head = head.Next
            ind.Next = None
            self.n += 1
            if ind.Buffer.Mdl is None or ind.Buffer.Length == 0 or self.n % 3 == 0:
                if release_chain is None:
                    release_chain = ind
                else:
                    tail.Next = ind
                tail = ind
            else:
                self.kept.put(ind)
        if release_chain is not None:
            self.socket.Dispatch.WskRelease(self.socket, release_chain)
        return STATUS_PENDING

    def recv_data_return(self):
        while True:
            batch = [self.kept.get()]
            while not self.kept.empty() and len(batch) < 5:
                batch.append(self.kept.get())
            if batch[-1] is None:
                batch.pop()
                done = True
            else:
                done = False
            chain = None
            for ind in reversed(batch):
                if ind is None:
                    done = True
                    continue
                ind.Next = chain
                chain = ind
            if chain is not None:
                WskRelease(self.socket, chain)
            if done:
                return

    def stop(self):
        self.kept.put(None)
        self.worker.join()
        WskCloseSocket(self.socket)
