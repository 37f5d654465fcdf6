"""The event-callback example of Microsoft's "Receiving Data over a Datagram Socket"
(learn.microsoft.com, windows-hardware/drivers/network/receiving-data-over-a-datagram-socket),
ported line for line: WskReceiveFromEvent walks the list of WSK_DATAGRAM_INDICATION
structures through Next and returns STATUS_SUCCESS; a NULL DataIndication means the socket
no longer works, and the socket is closed. The page's "..." ("Process the data in the data
indication structure", "Close the socket") is filled in by this client.

    wskrecv run examples/page_event.py -p 9000
"""

from wskrecv.client import (
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_SUCCESS,
    WSK_CLIENT_DATAGRAM_DISPATCH,
    WSK_EVENT_CALLBACK_CONTROL,
    WSK_EVENT_RECEIVE_FROM,
    MmGetSystemAddressForMdlSafe,
    WskCloseSocket,
    WskControlSocket,
    WskSetOption,
)


# A datagram socket's WskReceiveFromEvent
# event callback function
def WskReceiveFromEvent(SocketContext, Flags, DataIndication):
    # Check for a valid data indication
    if DataIndication is not None:
        # Loop through the list of data indication structures
        while DataIndication is not None:
            # Process the data in the data indication structure
            SocketContext.process(DataIndication)

            # Move to the next data indication structure
            DataIndication = DataIndication.Next

        # Return status indicating the datagrams were received
        return STATUS_SUCCESS

    # Error
    else:
        # Close the socket
        SocketContext.close()

        # Return success since no datagrams were indicated
        return STATUS_SUCCESS


class PageEventClient:
    dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=WskReceiveFromEvent)

    def __init__(self):
        self.bytes = 0
        self.closed = False

    def start(self, socket):
        """The socket is created and bound: enable the receive event callback."""
        self.socket = socket
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

    def process(self, DataIndication):
        Buffer = DataIndication.Buffer
        data = MmGetSystemAddressForMdlSafe(Buffer.Mdl)[Buffer.Offset:Buffer.Offset + Buffer.Length]
        self.bytes += len(data)  # ... the datagram, from DataIndication.RemoteAddress

    def close(self):
        if not self.closed:
            self.closed = True
            WskCloseSocket(self.socket)

    def stop(self):
        """Unload: close the socket."""
        self.close()
