"""The IRP example of Microsoft's "Receiving Data over a Datagram Socket" (learn.microsoft.com,
windows-hardware/drivers/network/receiving-data-over-a-datagram-socket), ported line for
line: ReceiveDatagram allocates an IRP, sets ReceiveDatagramComplete as its IoCompletion
routine and calls WskReceiveFrom through the socket's dispatch table; the routine checks
the status, processes the datagram and frees the IRP. The page's "..." ("Process the
received datagram", "Handle error") is where this client counts it and receives the next:
the page leaves errors to the driver, and this one handles every kind `--inject` injects
(a NULL IRP: asked for again; a failed or cancelled request: the next receive; a socket
that stopped working: closed).

    wskrecv run examples/page_irp.py -p 9000
"""

from wskrecv.client import (
    STATUS_FILE_FORCED_CLOSED,
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_SUCCESS,
    WSK_BUF,
    IoAllocateIrp,
    IoFreeIrp,
    IoSetCompletionRoutine,
    WskCloseSocket,
)

BUFFER = 65535
TRIES = 8  # ReceiveDatagram calls while IoAllocateIrp has no IRP, before giving up


# Function to receive a datagram
def ReceiveDatagram(Socket, DatagramBuffer):
    # Get pointer to the provider dispatch structure
    Dispatch = Socket.Dispatch

    # Allocate an IRP
    Irp = IoAllocateIrp(1, False)

    # Check result
    if not Irp:
        # Return error
        return STATUS_INSUFFICIENT_RESOURCES

    # Set the completion routine for the IRP
    IoSetCompletionRoutine(
        Irp,
        ReceiveDatagramComplete,
        DatagramBuffer,  # Use the datagram buffer for the context
        True,
        True,
        True,
    )

    # Initiate the receive operation on the socket
    Status = Dispatch.WskReceiveFrom(
        Socket,
        DatagramBuffer,
        0,  # No flags are specified
        None,  # Not interested in the remote address
        None,  # Not interested in any associated control information
        None,
        None,
        Irp,
    )

    # Return the status of the call to WskReceiveFrom()
    return Status


# Receive datagram IoCompletion routine
def ReceiveDatagramComplete(DeviceObject, Irp, Context):
    # Check the result of the receive operation
    if Irp.IoStatus.Status == STATUS_SUCCESS:
        # Get the pointer to the data buffer
        DataBuffer = Context

        # Get the number of bytes received
        ByteCount = Irp.IoStatus.Information

        # Process the received datagram
        CLIENT.process(DataBuffer, ByteCount)

    # Error status
    else:
        # Handle error
        CLIENT.error(Irp.IoStatus.Status)

    # Free the IRP
    IoFreeIrp(Irp)

    # Always return STATUS_MORE_PROCESSING_REQUIRED to
    # terminate the completion processing of the IRP.
    return STATUS_MORE_PROCESSING_REQUIRED


CLIENT = None  # the one client of this driver, as its C code would keep it


class PageIrpClient:
    def __init__(self):
        global CLIENT
        CLIENT = self
        self.buffer = WSK_BUF(bytearray(BUFFER), 0, BUFFER)
        self.bytes = 0
        self.stopping = False
        self.closed = False

    def start(self, socket):
        """The socket is created and bound: receive the first datagram."""
        self.socket = socket
        self.receive()

    def receive(self):
        """ReceiveDatagram; again when IoAllocateIrp had no IRP for it (a few times)."""
        for _ in range(TRIES):
            if ReceiveDatagram(self.socket, self.buffer) != STATUS_INSUFFICIENT_RESOURCES:
                return

    def process(self, buffer, byte_count):
        self.bytes += byte_count  # ... the datagram: buffer.data(byte_count)
        if not self.stopping:
            self.receive()  # and the next one

    def error(self, status):
        if status == STATUS_FILE_FORCED_CLOSED:  # the socket no longer works: close it
            self.close()
        elif not self.stopping and not self.closed:  # this request failed, not the socket
            self.receive()
        # STATUS_CANCELLED while stopping: WskCloseSocket's

    def close(self):
        if not self.closed:
            self.closed = True
            WskCloseSocket(self.socket)

    def stop(self):
        """Unload: close the socket (its pending receive completes, cancelled, and its
        routine frees the IRP)."""
        self.stopping = True
        self.close()
