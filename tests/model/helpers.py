"""Tiny drivers for the model: a socket, datagrams, an IRP application and an event client
that log what they see."""

from __future__ import annotations

from typing import Any, Optional

from wskrecv.wsk import (
    IP_PKTINFO,
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPV6_PKTINFO,
    SIO_TIMESTAMPING,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_SUCCESS,
    WSK_EVENT_DISABLE,
    WSK_EVENT_RECEIVE_FROM,
    BufferPool,
    Datagram,
    Irp,
    SockAddr,
    TimestampingConfig,
    ULongRef,
    WskBuf,
    WskClientDatagramDispatch,
    WskDatagramIndication,
    WskDatagramSocket,
    WskEventCallbackControl,
    WskIoctl,
    WskSetOption,
    io_allocate_irp,
    io_set_completion_routine,
)
from wskrecv.wsk.indication import IndicationCore


def bound_socket(family_addr: tuple = ("127.0.0.1", 5001)) -> WskDatagramSocket:
    sock = WskDatagramSocket()
    sock.bind(family_addr)
    return sock


def ask_for_control(sock: WskDatagramSocket, pktinfo: bool = True, timestamps: bool = True) -> None:
    """Enable IP_PKTINFO/IPV6_PKTINFO and SIO_TIMESTAMPING, as a driver asks for them."""
    if pktinfo:
        if sock.family == 23:
            assert sock.control_socket(WskSetOption, IPV6_PKTINFO, IPPROTO_IPV6, 1) == STATUS_SUCCESS
        else:
            assert sock.control_socket(WskSetOption, IP_PKTINFO, IPPROTO_IP, 1) == STATUS_SUCCESS
    if timestamps:
        config = TimestampingConfig()
        assert sock.control_socket(WskIoctl, SIO_TIMESTAMPING, 0xFFFF, config) == STATUS_SUCCESS


def dgram(
    data: bytes = b"x",
    remote: tuple = ("127.0.0.1", 40000),
    local: Optional[tuple[str, int]] = ("127.0.0.1", 1),
    ts: Optional[int] = 1_700_000_000_000_000_000,
) -> Datagram:
    return Datagram(data, remote, local, ts)


class Post:
    """One receive request and what its completion routine saw."""

    def __init__(self, size: int = 64, control: int = 0, name: str = "") -> None:
        self.name = name
        self.irp: Irp = io_allocate_irp()
        self.buf = WskBuf(bytearray(size))
        self.remote = SockAddr()
        self.control_length = ULongRef(control)
        self.control_info: list = []
        self.control_flags = ULongRef()
        self.completions: list[tuple[int, int]] = []
        self.returns: Any = STATUS_MORE_PROCESSING_REQUIRED
        self.log: Optional[list] = None
        # Set before every submit, as a driver must (IoReuseIrp clears it); a test sets
        # `routine` to its own, or None to submit without one.
        self.routine: Any = self._done

    def _done(self, _dev: Any, irp: Irp, _ctx: Any) -> Any:
        self.completions.append((irp.io_status.status, irp.io_status.information))
        if self.log is not None:
            self.log.append(self.name)
        return self.returns

    def submit(self, sock: WskDatagramSocket, flags: int = 0) -> int:
        if self.routine is not None:
            io_set_completion_routine(self.irp, self.routine, None)
        return sock.receive_from(
            self.buf,
            flags,
            self.remote,
            self.control_length,
            self.control_info if self.control_length.value else None,
            self.control_flags,
            self.irp,
        )

    @property
    def data(self) -> bytes:
        return bytes(self.buf.data(self.completions[-1][1]))


class EventClient:
    """A WskReceiveFromEvent client whose callback returns what the test says.

    `returns` is a status, or a function of the indication list returning one. Every call
    is logged: the list's payloads (None for the NULL indication) and its head.
    """

    def __init__(self, sock: WskDatagramSocket, returns: Any = STATUS_SUCCESS) -> None:
        self.sock = sock
        self.returns = returns
        self.calls: list[Optional[list[bytes]]] = []
        self.heads: list[Optional[WskDatagramIndication]] = []
        self.flags: list[int] = []
        sock.set_dispatch(self, WskClientDatagramDispatch(self._on_receive_from))

    def _on_receive_from(
        self, context: Any, flags: int, indication: Optional[WskDatagramIndication]
    ) -> Any:
        assert context is self
        self.flags.append(flags)
        self.heads.append(indication)
        self.calls.append(None if indication is None else [i.data for i in chain(indication)])
        if indication is None:
            return STATUS_SUCCESS
        return self.returns(indication) if callable(self.returns) else self.returns

    def control(self, mask: int) -> int:
        return self.sock.control_socket(
            WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, WskEventCallbackControl(mask)
        )

    def enable(self) -> int:
        return self.control(WSK_EVENT_RECEIVE_FROM)

    def disable(self) -> int:
        return self.control(WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE)


def chain(head: Optional[WskDatagramIndication]) -> list[WskDatagramIndication]:
    """The indications of a list, following `next`."""
    out = []
    while head is not None:
        out.append(head)
        head = head.next
    return out


def event_socket(
    indications: IndicationCore, pool: Optional[int] = None, returns: Any = STATUS_SUCCESS,
    control: bool = True,
) -> tuple[WskDatagramSocket, EventClient]:
    """A bound socket whose lists `indications` builds (the core under test), with the
    receive event callback enabled (and, unless `control` is False, IP_PKTINFO and receive
    timestamps)."""
    sock = WskDatagramSocket(pool=BufferPool(pool), indications=indications)
    sock.bind(("127.0.0.1", 5001))
    if control:
        ask_for_control(sock)
    client = EventClient(sock, returns)
    assert client.enable() == STATUS_SUCCESS
    return sock, client


def payloads(n: int, start: int = 0) -> list[Datagram]:
    return [dgram(str(i).encode()) for i in range(start, start + n)]
