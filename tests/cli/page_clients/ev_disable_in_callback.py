"""Disables its callback from inside the callback with an IRP: SO_WSK_EVENT_CALLBACK, "If
there are in-progress calls to the event callback function ... and the WSK application
specified an IRP, the WskControlSocket function returns STATUS_PENDING. The WSK subsystem
disables the event callback function and completes the IRP after all in-progress calls
to the event callback function have returned." Its completion routine re-enables the
callback (a completion routine may initiate WSK requests). Windows: legal; the IRP
completes once the callback returned."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 3, "count": 3}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.statuses = []
        self.irp_done = []

    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        self.control(WSK_EVENT_RECEIVE_FROM)

    def control(self, mask, irp=None):
        return WskControlSocket(self.socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                WSK_EVENT_CALLBACK_CONTROL(mask), irp)

    def disabled(self, device, irp, context):
        self.irp_done.append(irp.IoStatus.Status)
        assert self.control(WSK_EVENT_RECEIVE_FROM) == STATUS_SUCCESS
        return STATUS_MORE_PROCESSING_REQUIRED

    def receive(self, context, flags, indication):
        if indication is None:
            return STATUS_SUCCESS
        if not self.statuses:
            IoSetCompletionRoutine(self.irp, self.disabled, None, True, True, True)
            self.statuses.append(self.control(WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE, self.irp))
            assert self.irp_done == []  # not before the call returned
        return STATUS_SUCCESS

    def stop(self):
        assert self.statuses == [STATUS_PENDING], self.statuses
        assert self.irp_done == [STATUS_SUCCESS], self.irp_done
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
