"""The callback polls an event with a zero timeout (KeWaitForSingleObject: "If *Timeout =
0, the routine returns without waiting"; legal at DISPATCH_LEVEL too): no rule. Then,
once, it waits (Timeout NULL) for a WSK request (a disable with an IRP) to complete:
PFN_WSK_RECEIVE_FROM_EVENT "must not wait for completion of other WSK requests ... even
when the callback is called at IRQL = PASSIVE_LEVEL". Verdict: WaitInCallback at the
wait only; exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"WaitInCallback": "wait"}, "send": 3, "count": 3}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.ev = KEVENT()
        KeInitializeEvent(self.ev, NotificationEvent, False)
        self.calls = 0

    def start(self, socket):
        self.socket = socket
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def receive(self, context, flags, indication):
        self.calls += 1
        assert KeWaitForSingleObject(self.ev, Executive, KernelMode, False, 0) == STATUS_TIMEOUT
        if self.calls == 1:
            try:
                KeWaitForSingleObject(self.ev, Executive, KernelMode, False, None)  # <wait>
            except WskApiViolation:
                pass
        return STATUS_SUCCESS

    def stop(self):
        WskCloseSocket(self.socket)
