"""The page's WskReceiveFromEvent ("Receiving Data over a Datagram Socket"): walk the list
with DataIndication->Next, process each datagram (MmGetSystemAddressForMdlSafe of the
Buffer's MDL + Offset, Buffer.Length; RemoteAddress), return STATUS_SUCCESS; a NULL
indication closes the socket. Enabled with SO_WSK_EVENT_CALLBACK after bind, no IRP
("Enabling and Disabling Event Callback Functions"). Windows: legal; all received."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "received": 10}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.WskReceiveFromEvent)
        self.bytes = 0

    def start(self, socket):
        self.socket = socket
        control = WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM)
        status = socket.Dispatch.WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK,
                                                  SOL_SOCKET, control, None)
        assert status == STATUS_SUCCESS, hex(status)

    def WskReceiveFromEvent(self, SocketContext, Flags, DataIndication):
        assert SocketContext is self
        if DataIndication is not None:
            while DataIndication is not None:
                mdl = DataIndication.Buffer.Mdl
                offset = DataIndication.Buffer.Offset
                length = DataIndication.Buffer.Length
                buf = MmGetSystemAddressForMdlSafe(mdl, 0)
                data = bytes(buf[offset:offset + length])
                assert len(data) == 64 == MmGetMdlByteCount(mdl) - offset
                assert DataIndication.RemoteAddress.host == "127.0.0.1"
                assert DataIndication.ControlInfo is None and DataIndication.ControlInfoLength == 0
                self.bytes += len(data)
                DataIndication = DataIndication.Next
            return STATUS_SUCCESS
        WskCloseSocket(self.socket)
        return STATUS_SUCCESS

    def stop(self):
        WskCloseSocket(self.socket)
