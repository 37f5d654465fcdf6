"""An event-style WSK client: the provider calls receive_from_event with a list of
datagram indications per batch read from the socket.

    wskrecv run client.py -p 9000

A NULL indication means the socket no longer works: it closes the socket (try it with
`--inject fail-socket`).
"""

from wskrecv.client import (
    NT_SUCCESS,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_SUCCESS,
    WSK_CLIENT_DATAGRAM_DISPATCH,
    WSK_EVENT_CALLBACK_CONTROL,
    WSK_EVENT_RECEIVE_FROM,
    WskCloseSocket,
    WskControlSocket,
    WskSetOption,
    indications,
)


class Client:
    def __init__(self):
        # What a driver passes to WskSocket as its Dispatch table.
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive_from_event)

    def start(self, socket):
        """The socket is created and bound: enable the receive event callback."""
        self.socket = socket
        control = WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM)
        status = WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, control)
        if not NT_SUCCESS(status):
            raise RuntimeError(f"enabling the receive callback failed: 0x{status:08X}")

    def receive_from_event(self, socket_context, flags, indication):
        if indication is None:  # the socket no longer works: close it as soon as possible
            WskCloseSocket(self.socket)  # it completes once this callback has returned
            return STATUS_SUCCESS
        for ind in indications(indication):
            self.process(ind.data, ind.remote)
        # STATUS_SUCCESS: done, the buffers go back. STATUS_PENDING: keep the list and
        # give it back later with WskRelease(self.socket, indication).
        return STATUS_SUCCESS

    def process(self, data, remote):
        """Your processing of `data` from `remote`."""

    def stop(self):
        """The run is over: release any list still retained (the socket closes after)."""
