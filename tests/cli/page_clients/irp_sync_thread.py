"""A receive thread of the driver's own (PsCreateSystemThread, PASSIVE_LEVEL) does
synchronous receives: post, KeWaitForSingleObject until the routine signals, process,
IoReuseIrp, again. The event is a SynchronizationEvent (auto-reset: a satisfied wait
resets it; KeInitializeEvent), so it is never cleared by hand, as msquic's
CxPlatEventInitialize(&e, FALSE, FALSE) gives. Stop closes the socket: the pending
receive completes STATUS_CANCELLED and the thread ends. Stop follows PFN_WSK_CLOSE_SOCKET
("no other function calls in progress ... in any of the application's other threads"):
it cancels the receive (IoCancelIrp), joins the thread, then closes.
Windows: legal; every datagram received."""
import threading

from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "received": 10}


class Client:
    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        self.buf = WSK_BUF(bytearray(2048), 0, 2048)
        self.stopping = False
        self.done_event = KEVENT()
        KeInitializeEvent(self.done_event, SynchronizationEvent, False)
        self.thread = threading.Thread(target=self.receive_loop, daemon=True)
        self.thread.start()

    def receive_loop(self):
        while not self.stopping:
            IoSetCompletionRoutine(self.irp, self.complete, self.done_event, True, True, True)
            status = WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, self.irp)
            # The routine has run whatever the status; only a pending request is waited
            # for, and a SynchronizationEvent nobody waited on stays signalled: the wait
            # below consumes it either way.
            KeWaitForSingleObject(self.done_event, Executive, KernelMode, False, None)
            if status != STATUS_PENDING and not NT_SUCCESS(status):
                return
            if self.irp.IoStatus.Status != STATUS_SUCCESS:
                return
            IoReuseIrp(self.irp, STATUS_SUCCESS)

    def complete(self, device_object, irp, context):
        KeSetEvent(context, IO_NO_INCREMENT, False)
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        self.stopping = True
        IoCancelIrp(self.irp)
        self.thread.join()
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
