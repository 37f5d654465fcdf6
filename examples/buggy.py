"""A client with three deliberate bugs, to see what the verifier reports:

- `start` submits its IRP twice: the second WskReceiveFrom hands over an IRP that is
  still pending (IrpAlreadyPending; the call fails with STATUS_INVALID_PARAMETER);
- the receive callback retains every list with STATUS_PENDING and never releases one
  (IndicationLeaked: the datagrams are counted as leaked when the socket closes);
- `stop` never frees the IRP with IoFreeIrp (IrpLeaked, at its IoAllocateIrp line).

And two that only injected faults reach (`--inject`):

- the constructor does not check what IoAllocateIrp returns: when it is NULL
  (`--inject alloc`) the constructor raises, a client fault (exit 6);
- the callback ignores the NULL indication and never closes the socket that stopped
  working (`--inject fail-socket`): that fault is charged as leaked.

    wskrecv run examples/buggy.py -p 9000 -c 10
"""

from wskrecv.client import (
    SO_WSK_EVENT_CALLBACK,
    SOCKADDR,
    SOL_SOCKET,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_BUF,
    WSK_CLIENT_DATAGRAM_DISPATCH,
    WSK_EVENT_CALLBACK_CONTROL,
    WSK_EVENT_RECEIVE_FROM,
    IoAllocateIrp,
    IoSetCompletionRoutine,
    WskControlSocket,
    WskReceiveFrom,
    WskSetOption,
)


class Buggy:
    def __init__(self) -> None:
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive_from_event)
        self.irp = IoAllocateIrp()  # BUG: never freed with IoFreeIrp
        IoSetCompletionRoutine(self.irp, self.on_receive, None)  # BUG: NULL not checked
        self.buffer = WSK_BUF(bytearray(2048))
        self.remote = SOCKADDR()
        self.retained = []

    def start(self, socket) -> None:
        self.socket = socket
        WskReceiveFrom(socket, self.buffer, 0, self.remote, None, None, None, self.irp)
        WskReceiveFrom(socket, self.buffer, 0, self.remote, None, None, None, self.irp)  # BUG: still pending
        control = WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM)
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, control)

    def on_receive(self, device, irp, context) -> int:
        return STATUS_MORE_PROCESSING_REQUIRED  # never posts again: events get the rest

    def receive_from_event(self, socket_context, flags, indication) -> int:
        if indication is None:  # BUG: the socket no longer works and is never closed
            return STATUS_SUCCESS
        self.retained.append(indication)  # BUG: never given back with WskRelease
        return STATUS_PENDING

    def stop(self) -> None:
        pass  # BUG: the retained lists are not released, the IRP is not freed
