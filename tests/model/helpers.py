"""Tiny drivers for the model: a socket, datagrams, and an IRP application that logs."""

from __future__ import annotations

from typing import Any, Optional

from wskrecv.wsk import (
    STATUS_MORE_PROCESSING_REQUIRED,
    Datagram,
    Irp,
    SockAddr,
    ULongRef,
    WskBuf,
    WskDatagramSocket,
    io_allocate_irp,
    io_set_completion_routine,
)


def bound_socket(family_addr: tuple = ("127.0.0.1", 5001)) -> WskDatagramSocket:
    sock = WskDatagramSocket()
    sock.bind(family_addr)
    return sock


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
        io_set_completion_routine(self.irp, self._done, None)

    def _done(self, _dev: Any, irp: Irp, _ctx: Any) -> Any:
        self.completions.append((irp.io_status.status, irp.io_status.information))
        if self.log is not None:
            self.log.append(self.name)
        return self.returns

    def submit(self, sock: WskDatagramSocket, flags: int = 0) -> int:
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
