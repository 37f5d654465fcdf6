"""Event receive the msquic way: walk the list, cut it apart, give back what is not kept
at once with WskRelease (from inside the callback), return STATUS_PENDING for the rest
and release it later, from a worker thread.

Here every other datagram is kept: the ones whose payload's first byte is odd. When the
socket stops working (the NULL indication), the worker closes it once it has released
what was kept.

    wskrecv run examples/cut_and_pend.py -p 9000
"""

import queue
import threading

from wskrecv.client import (
    NT_SUCCESS,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_CLIENT_DATAGRAM_DISPATCH,
    WSK_EVENT_CALLBACK_CONTROL,
    WSK_EVENT_RECEIVE_FROM,
    WskCloseSocket,
    WskControlSocket,
    WskRelease,
    WskSetOption,
    indications,
)

CLOSE = "close"  # the worker's cue: the socket no longer works


def chain(inds):
    """Link indications through Next; return the head (None for none)."""
    for a, b in zip(inds, inds[1:]):
        a.next = b
    if inds:
        inds[-1].next = None
        return inds[0]
    return None


class CutAndPend:
    def __init__(self) -> None:
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive_from_event)
        self.work: queue.Queue = queue.Queue()
        self.worker = threading.Thread(target=self.process, name="cut-and-pend worker")
        self.kept = 0
        self.dropped = 0

    def start(self, socket) -> None:
        self.socket = socket
        self.worker.start()
        control = WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM)
        status = WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, control)
        if not NT_SUCCESS(status):
            raise RuntimeError(f"enabling WskReceiveFromEvent failed: 0x{status:08X}")

    def receive_from_event(self, socket_context, flags, indication) -> int:
        if indication is None:  # the socket no longer works: close it, after the releases
            self.work.put(CLOSE)
            return STATUS_SUCCESS
        keep, drop = [], []
        for ind in indications(indication):  # Next is read before each step: safe to cut
            (keep if ind.data[:1] and ind.data[0] & 1 else drop).append(ind)
        if not keep:
            return STATUS_SUCCESS  # nothing retained: the provider takes the whole list back
        if drop:
            WskRelease(self.socket, chain(drop))  # legal inside the callback
            self.dropped += len(drop)
        self.work.put(chain(keep))
        return STATUS_PENDING  # the kept part is ours until WskRelease

    def process(self) -> None:
        while True:
            head = self.work.get()
            if head is None:
                return
            if head == CLOSE:
                WskCloseSocket(self.socket)
                continue
            self.kept += sum(1 for _ in indications(head))
            WskRelease(self.socket, head)

    def stop(self) -> None:
        self.work.put(None)  # the worker releases everything queued before it ends
        self.worker.join()
