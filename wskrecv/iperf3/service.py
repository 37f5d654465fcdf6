"""The iperf3 server's I/O, carried by the receive loop beside the UDP socket.

It owns a TCP listener on the test's port number (iperf3's clients send the control
connection and the UDP streams to one port), the control connection of the test in
progress, and answers the streams' connect datagrams from the UDP socket itself. Nothing
here blocks: the runner waits on `fds()`, calls `service()` after each wait, and hands
every batch it read to `take()`, which removes the connect datagrams before the WSK model
sees them (as iperf3's server reads them on its listener, they are not test data).

A client that connects while a test runs gets ACCESS_DENIED at once, as from `iperf3 -s`.
Every failure of a client (bad cookie, bad JSON, a huge length, a reset, silence past a
timeout) is one logged note, and the next client is served.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Callable, Optional

from wskrecv.errors import OsFailure
from wskrecv.iperf3.protocol import ACCESS_DENIED, state_byte
from wskrecv.iperf3.server import Iperf3Server, format_peer
from wskrecv.output.format import nbytes
from wskrecv.provider.udp import SO_RCVBUFFORCE
from wskrecv.units import MAX_RCVBUF

MAX_ACCEPTS = 16  # connections taken per look at the listener
RECV_SIZE = 65536
MAX_OUTPUT = 1 << 20  # bytes queued for a client that does not read: then it is dropped


class CpuMeter:
    """Process CPU use since the last `reset`, as iperf3's cpu_util percentages."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        t = os.times()
        self._t0 = (time.monotonic(), t.user, t.system)

    def __call__(self) -> tuple[float, float, float]:
        t = os.times()
        wall = max(1e-9, time.monotonic() - self._t0[0])
        user = 100.0 * (t.user - self._t0[1]) / wall
        system = 100.0 * (t.system - self._t0[2]) / wall
        return user + system, user, system


def open_listener(local_address: tuple) -> socket.socket:
    """A TCP listener on the UDP socket's address and port (dual-stack when it is ::)."""
    host, port = local_address[0], local_address[1]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(local_address[:2] if family == socket.AF_INET else (host, port, 0, 0))
        sock.listen(8)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise OsFailure(f"cannot listen for iperf3 control connections on TCP {where}: "
                        f"{os.strerror(exc.errno) if exc.errno else exc}") from None
    return sock


class Iperf3Service:
    """The runner's sidecar for `--iperf3`: control connections, stream connects,
    the server's status in every snapshot, and notes for the reporter."""

    def __init__(
        self,
        server: Iperf3Server,
        udp: socket.socket,
        listener: socket.socket,
        note: Callable[[dict[str, Any]], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server
        self.udp = udp
        self.listener = listener
        self.port = listener.getsockname()[1]
        self.note = note
        self.clock = clock
        self.control: Optional[socket.socket] = None
        self._out = b""
        self.denied = 0

    # -- what the runner calls ----------------------------------------------------------

    def fds(self) -> tuple[list[int], list[int]]:
        """Descriptors to wait on: (readable, writable)."""
        read = [self.listener.fileno()]
        write: list[int] = []
        if self.control is not None:
            read.append(self.control.fileno())
            if self._out:
                write.append(self.control.fileno())
        return read, write

    def next_deadline(self) -> Optional[float]:
        return self.server.next_deadline()

    def take(self, got: list) -> list:
        """The batch without the streams' connect datagrams, each answered."""
        server = self.server
        if not server.expecting_streams:
            return got
        now = self.clock()
        kept = []
        for d in got:
            data, remote = d[0], d[1]
            reply = server.connect_datagram(data, remote, now) if len(data) == 4 else None
            if reply is None:
                kept.append(d)
                continue
            try:
                self.udp.sendto(reply, remote)
            except OSError:
                pass  # the client asks again or times out; nothing to count
        self._after(now)
        return kept

    def service(self, readable: set[int], writable: set[int], drained: bool) -> Optional[str]:
        """After a wait: accept, read, write, time out; `drained` says the receive side
        holds nothing uncounted. Returns why the run should end (--one-off), or None."""
        now = self.clock()
        if self.listener.fileno() in readable:
            self._accept(now)
        control = self.control
        if control is not None and control.fileno() in readable:
            self._read(control, now)
        if drained and self.server.waiting_for_drain:
            self.server.quiescent(now)
        self.server.tick(now)
        self._after(now)
        if self.server.finished and self.control is None:
            return "iperf3 test done (--one-off)"
        return None

    def status(self) -> dict[str, Any]:
        return {"port": self.port, **self.server.status(), "denied": self.denied}

    def close(self) -> None:
        """The run ends: a client in mid-test is told SERVER_TERMINATE, as by iperf3 -s."""
        if self.control is not None:
            try:
                self.control.send(self._out + self.server.terminate())
            except OSError:
                pass
            self._close_control()
            while self.server.notes:
                self.note(self.server.notes.popleft())
        self.listener.close()  # idempotent, as socket.close is

    # -- internals ----------------------------------------------------------------------

    def _accept(self, now: float) -> None:
        for _ in range(MAX_ACCEPTS):
            try:
                conn, peer = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ECONNABORTED, EMFILE...: log, keep listening
                self.note({"event": "error", "test": None, "client": None,
                           "message": f"accept failed: {os.strerror(exc.errno or 0)}"})
                return
            if self.server.busy:
                # As iperf3 -s: one byte, no read (it could hold up the test), close.
                try:
                    conn.setblocking(False)
                    conn.send(state_byte(ACCESS_DENIED))
                    conn.recv(RECV_SIZE)  # its cookie, unread, would turn close into a reset
                except OSError:
                    pass
                conn.close()
                self.denied += 1
                self.note({"event": "denied", "test": None, "client": format_peer(peer),
                           "message": f"connection from {format_peer(peer)} denied: a test is "
                           "running"})
                continue
            conn.setblocking(False)
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            self.control = conn
            self._out = b""
            self.server.connection_made(peer, now)

    def _read(self, control: socket.socket, now: float) -> None:
        try:
            data = control.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # reset: the same as a close for the protocol
        self.server.control_data(data, now)

    def _after(self, now: float) -> None:
        """Write what the server queued, pass its notes on, close when it is done."""
        server = self.server
        if self.control is not None:
            self._out += server.control_output()
            self._flush()
            if server.closing and (not self._out or self.control is None):
                self._close_control()
        while server.notes:
            self.note(server.notes.popleft())

    def _flush(self) -> None:
        control = self.control
        assert control is not None
        try:
            while self._out:
                n = control.send(self._out)
                self._out = self._out[n:]
        except (BlockingIOError, InterruptedError):
            if len(self._out) > MAX_OUTPUT:  # a client that does not read: drop it
                self._out = b""
                self.server.control_data(b"", self.clock())
        except OSError:  # EPIPE, ECONNRESET...: the client is gone
            self._out = b""
            self.server.control_data(b"", self.clock())

    def _close_control(self) -> None:
        if self.control is not None:
            try:
                self.control.close()
            finally:
                self.control = None
                self._out = b""
                self.server.connection_lost()


class SocketWindow:
    """A test's -w on the receive socket, as iperf3's server applies it to its own: the
    client's size asked for with SO_RCVBUF (the kernel caps it at net.core.rmem_max and
    doubles it, as for iperf3 -s), for that test only; the run's own buffer back after."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.own: Optional[int] = None  # the run's buffer, while a test has its own

    def __call__(self, size: Optional[int]) -> str:
        try:
            if size is None:
                if self.own is not None:
                    # The kernel doubles what it is given: ask for half of what it kept
                    # (forced, as the run's was when privileged: it may exceed rmem_max).
                    try:
                        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.own // 2)
                    except OSError:
                        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.own // 2)
                    self.own = None
                return ""
            if self.own is None:
                self.own = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, min(size, MAX_RCVBUF))
            got = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except OSError as exc:
            return f"-w {nbytes(size or 0)} not applied ({exc.strerror or exc})"
        return (f"-w {nbytes(size)}: socket buffer {nbytes(got)} for this test (SO_RCVBUF, "
                "as iperf3 -s; capped by net.core.rmem_max)")


def attach(
    provider: Any, recorder: Any, reporter: Any, one_off: bool = False, json_output: bool = False,
) -> Iperf3Service:
    """The iperf3 server for a receive run: a TCP listener on the provider's address and
    port, wskrecv's `recorder` as its statistics, notes to `reporter.note`."""
    from wskrecv import __version__
    from wskrecv.iperf3.counting import RecorderCounting

    listener = open_listener(provider.local_address)
    cpu = CpuMeter()
    window = SocketWindow(provider.sock)
    server = Iperf3Server(RecorderCounting(recorder), one_off=one_off,
                          json_output=json_output, cpu=cpu, version=f"wskrecv {__version__}",
                          window=window)

    def to_reporter(record: dict[str, Any]) -> None:
        if record.get("event") == "start":
            cpu.reset()
        reporter.note(record)

    return Iperf3Service(server, provider.sock, listener, to_reporter)
