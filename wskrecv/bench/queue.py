"""Filling a socket's OS queue, and knowing exactly what is in it.

On Linux, SO_MEMINFO reports the bytes a socket's receive queue holds (every datagram
charges its skb's truesize, the same for datagrams of the same size) and the datagrams
the kernel dropped for it. A probe datagram measures the truesize; after a fill, queued
bytes / truesize is the exact number of datagrams waiting, whatever was lost on the way.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Optional

from wskrecv.bench.native import Native, parse_pair
from wskrecv.errors import OsFailure
from wskrecv.provider.udp import SO_MEMINFO, SO_RCVBUFFORCE

HOST = "127.0.0.1"
SK_MEMINFO_RMEM_ALLOC = 0
SK_MEMINFO_DROPS = 8
_MEMINFO = struct.Struct("@9I")
BATCH = 64  # datagrams per sendmmsg call of the C sender

# The fastest sender Python has: a connected socket and a bound `send` in a tight loop.
# Like the C sender, datagrams of 36 bytes or more carry the wskrecv header (sequence
# and send time patched per datagram), so receivers' sequence analysis does real work.
PY_SENDER = """
import socket, sys, time
from wskrecv import payload as wp
host, port, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
headed = size >= wp.HEADER_LEN
d = wp.build(0, 0, 0, b"w" * (size - wp.HEADER_LEN)) if headed else bytearray(b"w" * size)
send, patch, now, sent = s.send, wp.patch, time.time_ns, 0
t0 = time.perf_counter_ns()
while sent < count:
    if headed:
        patch(d, sent, now())
    try:
        send(d)
    except ConnectionRefusedError:
        continue
    sent += 1
print(sent, time.perf_counter_ns() - t0)
"""


def meminfo(sock: socket.socket) -> tuple[int, ...]:
    """The socket's SO_MEMINFO array (Linux)."""
    return _MEMINFO.unpack(sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _MEMINFO.size))


def queued_bytes(sock: socket.socket) -> int:
    return meminfo(sock)[SK_MEMINFO_RMEM_ALLOC]


def socket_drops(sock: socket.socket) -> int:
    return meminfo(sock)[SK_MEMINFO_DROPS]


def wait_until(predicate: object, timeout: float, step: float = 0.001) -> bool:
    """A bounded poll (the kernel finishes loopback delivery in softirq context)."""
    end = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() >= end:
            return False
        time.sleep(step)
    return True


def set_rcvbuf(sock: socket.socket, size: int) -> int:
    """Ask for `size` bytes of receive queue (forced when privileged); return the grant."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def plain_socket(rcvbuf: int) -> socket.socket:
    """A bare, blocking UDP socket on loopback for the baselines: no ancillary data."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        set_rcvbuf(sock, rcvbuf)
        sock.bind((HOST, 0))
    except BaseException:
        sock.close()
        raise
    return sock


class Sender:
    """Sends datagrams to a loopback address: the C sendmmsg loop when built, else Python."""

    def __init__(self, native: Native) -> None:
        self.native = native
        self.method = "C sendmmsg" if native.available else "Python send loop"

    def argv(self, address: tuple, count: int, size: int) -> list[str]:
        host, port = address[:2]
        if self.native.path is not None:
            return [self.native.path, "send", host, str(port), str(count), str(size), str(BATCH)]
        return [sys.executable, "-c", PY_SENDER, host, str(port), str(count), str(size)]

    def start(self, address: tuple, count: int, size: int) -> subprocess.Popen:
        """Start sending in a child process (its stdout ends with "SENT NANOSECONDS")."""
        return subprocess.Popen(
            self.argv(address, count, size),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    @staticmethod
    def result(proc: subprocess.Popen) -> tuple[int, int]:
        """Wait for a started sender: (datagrams sent, nanoseconds)."""
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise OsFailure(f"sender failed: {err.strip() or proc.returncode}")
        return parse_pair(out, "send")

    def send(self, address: tuple, count: int, size: int) -> int:
        """Send `count` datagrams and wait until the sender is done; returns how many went.
        Interrupted (Ctrl-C, SIGTERM), the sender is killed, not left sending."""
        proc = self.start(address, count, size)
        try:
            return self.result(proc)[0]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def probe_truesize(sock: socket.socket, size: int) -> int:
    """Bytes one `size`-byte datagram occupies in `sock`'s queue (its skb truesize).

    Sends one datagram, reads the queue's charge, then reads the datagram back out. The
    socket must be empty and blocking or non-blocking alike (the datagram is there)."""
    address = sock.getsockname()
    with socket.socket(sock.family, socket.SOCK_DGRAM) as tx:
        tx.sendto(b"p" * size, address)
    if not wait_until(lambda: queued_bytes(sock) > 0, 5.0):
        raise OsFailure("a probe datagram sent on loopback never arrived")
    charge = queued_bytes(sock)
    sock.recv(65535)
    wait_until(lambda: queued_bytes(sock) == 0, 1.0)
    return charge


@dataclass(frozen=True)
class FillReport:
    """What a fill achieved: `queued` datagrams wait in the socket's queue."""

    requested: int
    sent: int
    queued: int
    drops: int  # the kernel's drop counter for this socket grew by this much while filling
    seconds: float

    @property
    def lost(self) -> int:
        """Requested but not queued (socket drops, or loss before the socket)."""
        return self.requested - self.queued


def fill(
    sock: socket.socket, count: int, size: int, truesize: int, sender: Sender,
    settle: float = 5.0,
) -> FillReport:
    """Send `count` datagrams of `size` bytes to `sock` and wait until they are queued.

    Returns when the queue holds them all, or the drop counter moved, or `settle`
    seconds passed; the report says how many are really queued."""
    drops_before = socket_drops(sock)
    want = count * truesize
    t0 = time.perf_counter()
    sent = sender.send(sock.getsockname(), count, size)
    wait_until(lambda: queued_bytes(sock) >= want or socket_drops(sock) != drops_before, settle)
    # Anything still on its way lands now or never: wait for the charge to stop moving.
    last: Optional[int] = None
    while True:
        now = queued_bytes(sock)
        if now == last or now >= want:
            break
        last = now
        time.sleep(0.01)
    return FillReport(
        requested=count,
        sent=sent,
        queued=queued_bytes(sock) // truesize,
        drops=socket_drops(sock) - drops_before,
        seconds=time.perf_counter() - t0,
    )
