"""On the default dual-stack AF_INET6 socket, an IPv4 sender: RemoteAddress is the
SOCKADDR of the socket's family ("the specific SOCKADDR structure type that corresponds
to the address family that the WSK application specified when it created the datagram
socket": SOCKADDR_IN6, the v4-mapped address). IP_PKTINFO (IPPROTO_IP) and IPV6_PKTINFO
both set, as msquic does: IPv4 datagrams carry IN_PKTINFO. Windows: legal."""
from wskrecv.client import *

EXPECT = {"status": 0, "rules": {}, "send": 3, "count": 3, "bind": "::", "send_host": "127.0.0.1"}


class Client:
    def __init__(self):
        self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
        self.log = []

    def start(self, socket):
        self.socket = socket
        assert WskControlSocket(socket, WskSetOption, IPV6_PKTINFO, IPPROTO_IPV6, 1) == STATUS_SUCCESS
        assert WskControlSocket(socket, WskSetOption, IP_PKTINFO, IPPROTO_IP, 1) == STATUS_SUCCESS
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))
        self.irp = IoAllocateIrp(1, False)
        self.remote = SOCKADDR()
        self.clen = ULONG(CMSG_SPACE(64))
        self.cinfo = []
        IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
        WskReceiveFrom(socket, WSK_BUF(bytearray(100), 0, 100), 0, self.remote, self.clen, self.cinfo,
                       None, self.irp)

    def done(self, device, irp, context):
        if irp.IoStatus.Status == STATUS_SUCCESS:
            self.log.append(("irp", self.remote.sa_family, self.remote.host, list(self.cinfo)))
        return STATUS_MORE_PROCESSING_REQUIRED

    def receive(self, context, flags, indication):
        for ind in indications(indication):
            address = ind.RemoteAddress
            self.log.append(("ind", address.sa_family, address.host, ind.ControlInfo))
        return STATUS_SUCCESS

    def stop(self):
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
        for kind, fam, host, info in self.log:
            assert fam == AF_INET6 and host == "::ffff:127.0.0.1", (kind, fam, host)
            assert info and type(info[0]) is PacketInfo and info[0].address == "127.0.0.1", info
