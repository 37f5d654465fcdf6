"""The completion routine polls an event (KeWaitForSingleObject, Timeout 0: "the routine
returns without waiting", legal at IRQL <= DISPATCH_LEVEL) and, once, waits (Timeout
NULL). PFN_WSK_RECEIVE_FROM_EVENT: a callback "must not wait for
completion of other WSK requests in the context of WSK completion or event callback
functions". Verdict: the polls are legal; the real wait is WaitInCallback; exit 7."""
from wskrecv.client import *

EXPECT = {"status": 7, "rules": {"WaitInCallback": "wait"}, "send": 4, "count": 4}


class Client:
    def start(self, socket):
        self.socket = socket
        self.closing = False
        self.waited = False
        self.event = KEVENT()
        KeInitializeEvent(self.event, NotificationEvent, False)
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        self.post()

    def post(self):
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        return WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, self.irp)

    def done(self, device_object, irp, context):
        status = KeWaitForSingleObject(self.event, Executive, KernelMode, False, 0)
        assert status == STATUS_TIMEOUT, hex(status)
        if not self.waited and irp.IoStatus.Status == STATUS_SUCCESS:
            self.waited = True
            try:
                KeWaitForSingleObject(self.event, Executive, KernelMode, False, None)  # <wait>
            except WskApiViolation:
                pass
        if irp.IoStatus.Status == STATUS_SUCCESS and not self.closing:
            IoReuseIrp(irp, STATUS_SUCCESS)
            self.post()
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.closing = True
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
