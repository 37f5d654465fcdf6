"""The iperf3 server's I/O, carried by the receive loop beside the UDP socket.

It owns a TCP listener on the test's port number (iperf3's clients send the control
connection and the UDP streams to one port), the control connection of the test in
progress, and answers the streams' connect datagrams from the UDP socket itself. Nothing
here blocks: the runner waits on `fds()`, calls `service()` after each wait, and hands
every batch it read to `take()`, which removes the connect datagrams before the WSK model
sees them (as iperf3's server reads them on its listener, they are not test data).

A client that connects while a test runs gets ACCESS_DENIED at once, as from `iperf3 -s`.
Every failure of a client (bad cookie, bad JSON, a huge length, a reset, silence past a
timeout) is one logged note, and the next client is served. One connection is held at a
time, and no thread is made for it. When the process is out of descriptors (EMFILE), the
listener rests, longer each time it still fails, instead of being polled in a busy loop,
and that is said once, and once more when connections are accepted again.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from typing import Any, Callable, Optional

from wskrecv.errors import OsFailure
from wskrecv.iperf3.protocol import ACCESS_DENIED, state_byte
from wskrecv.iperf3.server import RCV_TIMEOUT, Iperf3Server, format_peer
from wskrecv.output.format import nbytes
from wskrecv.provider.udp import SO_RCVBUFFORCE
from wskrecv.units import MAX_RCVBUF

MAX_ACCEPTS = 16  # connections taken per look at the listener
RECV_SIZE = 65536
MAX_OUTPUT = 1 << 20  # bytes queued for a client that does not read: then it is dropped
# accept() failures that say the process or host is short of something, not that one
# connection went wrong: the listener stays readable, so it rests before the next try.
SHORT_OF = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
REST_FIRST, REST_LONGEST = 0.05, 2.0  # seconds; each failed try doubles the rest


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
        # Short of descriptors: the listener is not polled until `_resting_until`.
        self._resting_until: Optional[float] = None
        self._rest = REST_FIRST
        self.accept_failures = 0  # accept() calls that failed for want of descriptors
        self._said = ""  # "short", then "again": each said once a run

    # -- what the runner calls ----------------------------------------------------------

    def fds(self) -> tuple[list[int], list[int]]:
        """Descriptors to wait on: (readable, writable)."""
        read = [] if self._resting_until is not None else [self.listener.fileno()]
        write: list[int] = []
        if self.control is not None:
            read.append(self.control.fileno())
            if self._out:
                write.append(self.control.fileno())
        return read, write

    def next_deadline(self) -> Optional[float]:
        times = [t for t in (self.server.next_deadline(), self._resting_until) if t is not None]
        return min(times) if times else None

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
        if self._resting_until is not None and now >= self._resting_until:
            self._resting_until = None
            self._accept(now)  # try again (readable or not: a non-blocking accept)
        elif self.listener.fileno() in readable:
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
        return {"port": self.port, **self.server.status(), "denied": self.denied,
                "accept_failures": self.accept_failures}

    def close(self) -> None:
        """The run ends: a client in mid-test is told SERVER_TERMINATE, as by iperf3 -s.
        What the client sent before the end is read first: a client that said IPERF_DONE
        (and exited) as the run was stopped completed its test."""
        if self.control is not None:
            now = self.clock()
            self._read(self.control, now)
            self._after(now)
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
            except OSError as exc:
                if exc.errno in SHORT_OF:
                    self._short_of(now, exc.errno)
                    return
                continue  # ECONNABORTED, EPROTO...: that connection is gone, not the next
            if self._said == "short":
                # Said once too: the table may fill and empty many times (an accept that
                # takes the last descriptor, then the next fails).
                self._said = "again"
                self.note({"event": "error", "test": None, "client": None,
                           "message": "control connections are accepted again"})
            self._rest = REST_FIRST
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

    def _short_of(self, now: float, code: int) -> None:
        """accept() failed for want of descriptors (or memory): rest the listener, longer
        each time; say so once, not on every try."""
        self.accept_failures += 1
        if not self._said:
            self._said = "short"
            self.note({"event": "error", "test": None, "client": None,
                       "message": f"accept failed: {os.strerror(code)}: control connections "
                       "wait until descriptors are free (said once)"})
        self._resting_until = now + self._rest
        self._rest = min(self._rest * 2, REST_LONGEST)

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
    rcv_timeout: float = RCV_TIMEOUT,
) -> Iperf3Service:
    """The iperf3 server for a receive run: a TCP listener on the provider's address and
    port, wskrecv's `recorder` as its statistics, notes to `reporter.note`; a running test
    idle for `rcv_timeout` seconds is ended."""
    from wskrecv import __version__
    from wskrecv.iperf3.counting import RecorderCounting

    listener = open_listener(provider.local_address)
    cpu = CpuMeter()
    window = SocketWindow(provider.sock)
    server = Iperf3Server(RecorderCounting(recorder), one_off=one_off,
                          json_output=json_output, cpu=cpu, version=f"wskrecv {__version__}",
                          rcv_timeout=rcv_timeout, window=window)

    def to_reporter(record: dict[str, Any]) -> None:
        if record.get("event") == "start":
            cpu.reset()
        reporter.note(record)

    return Iperf3Service(server, provider.sock, listener, to_reporter)
