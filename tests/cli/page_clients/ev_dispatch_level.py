"""Run with --dispatch-level: the callback's Flags carry WSK_FLAG_AT_DISPATCH_LEVEL ("The
WSK subsystem called the WskReceiveFromEvent event callback function at IRQL =
DISPATCH_LEVEL"). A zero-timeout KeWaitForSingleObject is legal there ("If Timeout !=
NULL and *Timeout = 0, the caller must be running at IRQL <= DISPATCH_LEVEL"); a real
wait is not ("if Timeout = NULL or *Timeout != 0, the caller must be running at IRQL <=
APC_LEVEL"), nor is waiting in a callback at all (PFN_WSK_RECEIVE_FROM_EVENT).
Verdict: WaitAtDispatchLevel at the wait only; exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"WaitAtDispatchLevel": "wait"}, "send": 3, "count": 3,
          "args": ["--dispatch-level"]}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.event = KEVENT()
        KeInitializeEvent(self.event, NotificationEvent, False)
        self.flags = []

    def start(self, socket):
        self.socket = socket
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def receive(self, context, flags, indication):
        self.flags.append(flags)
        assert KeWaitForSingleObject(self.event, Executive, KernelMode, False, 0) == STATUS_TIMEOUT
        if len(self.flags) == 1:
            try:
                KeWaitForSingleObject(self.event, Executive, KernelMode, False, 0.01)  # <wait>
            except WskApiViolation:
                pass
        return STATUS_SUCCESS

    def stop(self):
        WskCloseSocket(self.socket)
        assert all(f & WSK_FLAG_AT_DISPATCH_LEVEL for f in self.flags), self.flags
